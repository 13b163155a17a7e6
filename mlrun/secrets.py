"""Secrets: loaded from sources, handed to code by key, recorded only by where they came from.

Sources: ``file`` (``KEY=VALUE`` lines, ``#`` comments and blank lines allowed, ``$VAR`` expanded),
``env`` (comma-separated environment variable names) and ``inline`` (a mapping, its JSON or Python literal as
text, or ``KEY=VALUE[,KEY=VALUE]`` text).  Each source may carry a key prefix.

Masking: every record leaves the process through one pass (``SecretsStore.mask_record``, ``mask_data``)
that hides secret values in all its strings, keys included; text (logs, errors) goes through ``mask``.
A record keeps its identity and structure: the values of ``IDENTITY_FIELDS`` (uid, iteration, state,
kind, times, hashes) and the keys the format defines (``FORMAT_KEYS``) are never masked, so a short
secret (``456``) never breaks a uid; the user's own keys and values (parameters, outputs, labels) are.
A multi-line value is hidden whole and line by line (each line of ``MIN_MASKED_LENGTH`` characters or
more), so neither the value nor any of its lines shows.  The values of ``NOT_SECRET_KEYS`` (where an S3
endpoint is and its region) are configuration, not credentials: they stay visible.  A context that holds
secrets also registers them process-wide (``register``): from then on the process's own stdout, stderr
and ``logging`` are masked until it ends (``MaskedStream``); the registry keeps the newest
``$MLRUN_MASK_REGISTRY_SIZE`` values (default 4096), so a long-lived server does not grow without end.
A context built from a request does not: a request's secrets hide in its own record, log and answer
(``request_values`` scopes them to its thread or task) and on the console (``register_request``), never
in other requests' output.  Past ``MATCHER_THRESHOLD`` values, one compiled matcher finds them all in one
pass (Aho-Corasick where ``ahocorasick-rs`` is installed, else a trie-shaped regular expression).
"""
from __future__ import annotations

import io
import json
import os
import re
import sys
from _thread import allocate_lock as Lock  # threading itself is not needed to import this module
from collections.abc import Iterable, Mapping
from contextvars import ContextVar

from .errors import SecretError

SOURCE_KINDS = ("file", "env", "inline")
MASK = "******"
#: how a secret reads when user code logs it as a number (``int(secret)``, ``float(secret)``)
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
#: shorter values are not masked: hiding every "1" or "a" would make output unreadable
MIN_MASKED_LENGTH = 3
#: keys whose values say where a store is, not how to get in: never masked, so an error can name the endpoint
NOT_SECRET_KEYS = frozenset({"S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
                             "AWS_DEFAULT_REGION"})
#: how many secret values (lines of multi-line ones included) the process-wide registry keeps, newest first
MASK_REGISTRY_SIZE_ENV = "MLRUN_MASK_REGISTRY_SIZE"
DEFAULT_MASK_REGISTRY_SIZE = 4096


class SecretsStore:
    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._sources: list[dict] = []
        self._inline_keys: set[str] = set()
        self._public_keys: set[str] = set()  # keys of NOT_SECRET_KEYS, prefixed as stored
        self._maskable: list[str] | None = None  # cached: masking runs on every record that leaves

    @classmethod
    def from_sources(cls, sources: Iterable[Mapping], inline: Mapping | None = None) -> SecretsStore:
        """Rebuild a store from source references: recorded ones (an ``inline`` reference is a list of key names,
        whose values come separately in ``inline``) or written ones (``{'kind': 'inline', 'source': {...}}``)."""
        store = cls()
        for i, source in enumerate(sources):
            if not isinstance(source, Mapping):
                raise SecretError(f"secret_sources[{i}] must be a mapping, got {type(source).__name__}")
            kind, ref, prefix = source.get("kind", ""), source.get("source", ""), source.get("prefix", "") or ""
            if kind == "inline" and isinstance(ref, list):  # the reference holds the final (prefixed) key names
                store.add_source("inline", {k: v for k, v in (inline or {}).items() if k in ref})
            else:
                store.add_source(kind, ref, prefix)
        return store

    @classmethod
    def from_dict(cls, struct: Mapping) -> SecretsStore:
        """A store from ``{'secret_sources': [...]}`` or a whole run spec or record (its ``spec.secret_sources``);
        each source ``{'kind': 'file'|'env'|'inline', 'source': ..., 'prefix': ''}``."""
        if not isinstance(struct, Mapping):
            raise SecretError(f"secrets must be given as a mapping with secret_sources, got {type(struct).__name__}")
        spec = struct.get("spec")
        if "secret_sources" not in struct and isinstance(spec, Mapping):
            struct = spec
        sources = struct.get("secret_sources") or []
        if not isinstance(sources, list):
            raise SecretError(f"secret_sources must be a list, got {type(sources).__name__}")
        return cls.from_sources(sources)

    def add_source(self, kind: str, source, prefix: str = "") -> None:
        """Load secrets from one source; ``kind`` is ``file``, ``env`` or ``inline``."""
        if kind == "file":
            path = os.path.abspath(os.path.expanduser(str(source)))
            values = read_secrets_file(path)
            reference = path
        elif kind == "env":
            names = [n.strip() for n in str(source).split(",") if n.strip()]
            values = {n: os.environ[n] for n in names if n in os.environ}
            reference = ",".join(names)
        elif kind == "inline":
            values = {str(k): str(v) for k, v in _inline_values(source).items()}
            reference = sorted(prefix + k for k in values)
        else:
            raise SecretError(f"unknown secret source kind {kind!r} (expected one of: {', '.join(SOURCE_KINDS)})")
        self._secrets.update({prefix + k: v for k, v in values.items()})
        self._public_keys.update(prefix + k for k in values if k in NOT_SECRET_KEYS)
        self._maskable = None
        if kind == "inline":
            self._inline_keys.update(prefix + k for k in values)
        entry = {"kind": kind, "source": reference}
        if prefix:
            entry["prefix"] = prefix
        self._sources.append(entry)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._secrets.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._secrets

    def keys(self) -> list[str]:
        return list(self._secrets)

    def inline_values(self) -> dict[str, str]:
        """Values of inline sources: these cannot be re-read from a reference by another process."""
        return {k: self._secrets[k] for k in self._inline_keys}

    def items(self) -> dict[str, str]:
        """All values, for sending to a remote function in its dedicated secrets field."""
        return dict(self._secrets)

    def get_all(self) -> dict[str, str]:
        """A copy of every secret, name to value (the seed system's name of ``items``)."""
        return dict(self._secrets)

    @property
    def sources(self) -> list[dict]:
        """Where the secrets came from (what a run record keeps)."""
        return [dict(s) for s in self._sources]

    def secret_values(self) -> list[str]:
        """The values to hide: all but those of ``NOT_SECRET_KEYS``."""
        return [v for k, v in self._secrets.items() if k not in self._public_keys]

    def maskable(self) -> list[str]:
        """What masking replaces: each secret value and the lines of multi-line ones, longest first."""
        if self._maskable is None:
            self._maskable = _maskable(self.secret_values())
        return self._maskable

    def mask(self, text: str) -> str:
        """``text`` with every secret value (and every line of a multi-line one) hidden."""
        maskable = self.maskable()
        return _hide(text, maskable) if maskable else text

    def mask_record(self, data):
        """A record (plain data) as it may leave the process: see ``mask_data``."""
        maskable = self.maskable()
        return _mask_data(data, maskable) if maskable else data

    def register(self) -> None:
        """Add the secret values to the process-wide registry that masks the process's own output."""
        maskable = self.maskable()
        if maskable:
            _register(maskable)


def _inline_values(source) -> Mapping:
    """An inline source's values: a mapping, its JSON or Python literal (``"{'abc': 'def'}"``, read with
    ``ast.literal_eval``: never run) or ``KEY=VALUE[,KEY=VALUE]`` text.  Errors never quote the text: it holds values.
    """
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str):
        raise SecretError(f"inline secrets must be a mapping or text, got {type(source).__name__}")
    text = source.strip()
    if text.startswith("{"):
        import ast

        try:
            values = json.loads(text)
        except ValueError:
            try:
                values = ast.literal_eval(text)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                values = None
        if not isinstance(values, dict):
            raise SecretError("inline secrets: the text is not a mapping literal ({'KEY': 'VALUE', ...})")
        return values
    values = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            if not part.strip():
                continue
            raise SecretError("inline secrets: expected KEY=VALUE[,KEY=VALUE] or a mapping literal ({'KEY': 'VALUE'})")
        values[key.strip()] = value.strip()
    return values


def read_secrets_file(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fp:
            lines = fp.read().splitlines()
    except FileNotFoundError:
        raise SecretError(f"secrets file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read secrets file {path}: {exc.__class__.__name__}") from None
    values = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        values[key] = os.path.expandvars(_unquote(value.strip()))
    return values


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def secret_values(secrets: Mapping | Iterable[str]) -> list[str]:
    """The values to hide: a mapping's values but those of ``NOT_SECRET_KEYS``, or the values given."""
    if isinstance(secrets, Mapping):
        return [v for k, v in secrets.items() if k not in NOT_SECRET_KEYS]
    return list(secrets)


def mask(text: str, values: Mapping | Iterable[str]) -> str:
    """Replace every secret value in ``text`` (longest first, so overlapping values hide fully).

    ``values``: the values, or a mapping of keys to values (``NOT_SECRET_KEYS`` then stay visible).
    """
    return _hide(text, _maskable(secret_values(values)))


_maskable_cache: dict[tuple, list[str]] = {}


def _maskable(values: Iterable[str]) -> list[str]:
    # the same few values come with every request of a server: worked out once
    key = tuple(values)
    found = _maskable_cache.get(key)
    if found is None:
        if len(_maskable_cache) >= 256:
            _maskable_cache.clear()
        found = _maskable_cache[key] = _expand(key)
    return found


#: up to this many values, masking looks for each in turn; above it one compiled matcher finds them all at once
MATCHER_THRESHOLD = 16
#: the fallback matcher (a regular expression shaped like a trie) takes values up to this long; longer are few
_TRIE_MAX_LENGTH = 256


class _Values(list):
    """Values to hide, longest first, with their compiled matchers built on first need."""

    __slots__ = ("_text_matcher", "_bytes_matcher", "_escaped", "_numbers")

    def __init__(self, values: Iterable[str] = ()):
        super().__init__(values)
        self._text_matcher = self._bytes_matcher = self._escaped = self._numbers = None

    def numbers(self) -> frozenset:
        """The values that read as numbers: a result logged as ``int(secret)`` shows the secret as a number."""
        if self._numbers is None:
            self._numbers = frozenset(float(v) for v in self if _NUMBER.fullmatch(v.strip()))
        return self._numbers

    def escaped(self) -> _Values:
        """The values as they show inside JSON strings (JSON escapes character by character)."""
        if self._escaped is None:
            self._escaped = _Values(json.dumps(value)[1:-1] for value in self)
        return self._escaped

    def spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of every place a value shows in ``text``, overlapping ones included."""
        if self._text_matcher is None:
            self._text_matcher = _matcher(self)
        return self._text_matcher(text)

    def shows_in_bytes(self, data: bytes) -> bool:
        """Whether a value shows, UTF-8 encoded, in ``data``."""
        if self._bytes_matcher is None:
            encoded = [v.encode("utf-8", "surrogatepass") for v in self]
            try:
                from ahocorasick_rs import BytesAhoCorasick

                automaton = BytesAhoCorasick(encoded)
                self._bytes_matcher = lambda data: bool(automaton.find_matches_as_indexes(data))
            except ImportError:
                latin = _matcher([v.decode("latin-1") for v in encoded])
                self._bytes_matcher = lambda data: bool(latin(data.decode("latin-1")))
        return self._bytes_matcher(data)


def _matcher(values: list[str]):
    """A function finding every ``(start, end)`` of ``values`` in a text, in one pass whatever their number.

    Aho-Corasick (``ahocorasick-rs``) where installed; else a regular expression shaped like a trie of
    the values (at each place at most one branch per character is tried), values too long for it looked
    for one by one.
    """
    try:
        from ahocorasick_rs import AhoCorasick, MatchKind

        automaton = AhoCorasick(values, matchkind=MatchKind.Standard)
        return lambda text: [(start, end) for _, start, end
                             in automaton.find_matches_as_indexes(text, overlapping=True)]
    except ImportError:
        pass
    import re

    short = [v for v in values if len(v) <= _TRIE_MAX_LENGTH]
    long = [v for v in values if len(v) > _TRIE_MAX_LENGTH]
    pattern = re.compile(_trie_pattern(short), re.DOTALL) if short else None

    def find(text: str) -> list[tuple[int, int]]:
        spans = []
        match = pattern.search(text) if pattern is not None else None
        while match is not None:  # from the next place on: a value may start inside another
            spans.append(match.span())
            match = pattern.search(text, match.start() + 1)
        for value in long:
            at = text.find(value)
            while at != -1:
                spans.append((at, at + len(value)))
                at = text.find(value, at + 1)
        return spans

    return find


def _trie_pattern(values: list[str]) -> str:
    """A regular expression matching any of ``values``, the longest where several start at one place."""
    import re

    trie: dict = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(char) + emit(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(trie)


def _expand(values: tuple) -> list[str]:
    found = set()
    for value in values:
        if not isinstance(value, str) or len(value) < MIN_MASKED_LENGTH:
            continue
        found.add(value)
        if "\n" in value or "\r" in value:  # a line shown alone (a log line, a table cell) must hide too
            for line in value.splitlines():
                for part in (line, line.strip()):
                    if len(part) >= MIN_MASKED_LENGTH:
                        found.add(part)
    return _Values(sorted(found, key=len, reverse=True))


def _hide(text: str, maskable: list[str]) -> str:
    if len(maskable) <= MATCHER_THRESHOLD or not isinstance(maskable, _Values):
        for value in maskable:
            if value in text:
                text = text.replace(value, MASK)
        return text
    spans = maskable.spans(text)
    if not spans:
        return text
    spans.sort()
    parts, done = [], 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start < end:  # overlapping values hide as one
            end = max(end, next_end)
            continue
        parts += [text[done:start], MASK]
        done, start, end = end, next_start, next_end
    parts += [text[done:start], MASK, text[end:]]
    return "".join(parts)


def mask_bytes(data: bytes, values: Mapping | Iterable[str]) -> bytes:
    for value in _maskable(secret_values(values)):
        encoded = value.encode("utf-8")
        if encoded in data:
            data = data.replace(encoded, MASK.encode())
    return data


def mask_data(data, values: Mapping | Iterable[str]):
    """Plain data (a record) with every secret value hidden in its strings, keys included.

    A copy when there are values to hide; ``data`` itself otherwise.  Costs one scan (``_shows``) when
    no value shows (the usual case): the structure is walked and copied only when one does.  Keys that
    only differ by a secret's value become one (``key_******``).
    """
    maskable = _maskable(secret_values(values))
    return _mask_data(data, maskable) if maskable else data


def _mask_data(data, maskable: list[str]):
    maskable = maskable if isinstance(maskable, _Values) else _Values(maskable)
    if not _shows(data, maskable) and not (maskable.numbers() and _shows_number(data, maskable.numbers())):
        return data
    return _hide_in_data(data, maskable)


def _shows_number(item, numbers: frozenset) -> bool:
    """Whether a number of ``item`` is a secret value (walked only when a secret reads as a number)."""
    if isinstance(item, dict):
        return any(_shows_number(v, numbers) for v in item.values())
    if isinstance(item, (list, tuple)):
        return any(_shows_number(v, numbers) for v in item)
    return item.__class__ in (int, float) and item in numbers


def _shows(data, maskable: list[str]) -> bool:
    """Whether any string in ``data`` (keys included) may hold a value: one scan, nothing copied.

    The scan is a pickle without its memo (C speed, and numbers go out as bytes, not text: a metric's
    history of a million points costs milliseconds); strings are in it as UTF-8, whole.  A value
    seen by chance in a number's bytes only costs the walk that finds nothing to hide.
    """
    import io
    import pickle

    out = io.BytesIO()
    pickler = pickle.Pickler(out, 4)
    pickler.fast = True  # no memo: no dictionary entry per string
    try:
        pickler.dump(data)
    except Exception:  # noqa: BLE001 - not plain data (a cycle, an object): the walk looks at every string
        return True
    scanned = out.getvalue()
    if len(maskable) > MATCHER_THRESHOLD and isinstance(maskable, _Values):
        return maskable.shows_in_bytes(scanned)
    return any(value.encode("utf-8", "surrogatepass") in scanned for value in maskable)


def masked_json(data, values: Mapping | Iterable[str]) -> str:
    """``json.dumps(mask_data(data, values))``, serialising once when no value shows (the usual case)."""
    text = json.dumps(data)
    maskable = _maskable(secret_values(values))
    if maskable and _in_json(text, maskable):
        text = json.dumps(_hide_in_data(data, maskable))
    return text


def _in_json(text: str, maskable: list[str]) -> bool:
    # JSON escapes character by character: a value inside a string shows up escaped the same way
    if len(maskable) > MATCHER_THRESHOLD and isinstance(maskable, _Values):
        return bool(maskable.escaped().spans(text))
    return any(json.dumps(value)[1:-1] in text for value in maskable)


#: record fields whose values are identity or structure, never a secret's: uids, iterations, states, kinds,
#: times, hashes, sizes.  Masking keeps them verbatim (a 3-character secret inside a uid must not break it)
IDENTITY_FIELDS = frozenset({"uid", "iteration", "state", "kind", "hash", "sha256", "etag", "size", "start_time",
                             "last_update", "end_time", "read_time", "modified", "log_level"})
#: record fields that hold the user's own mapping: its keys are masked like values
_USER_MAPS = frozenset({"labels", "annotations", "parameters", "hyperparams", "hyper_options", "outputs"})
#: the keys the record format defines (its sections, their fields, and those of the lists they hold)
FORMAT_KEYS = IDENTITY_FIELDS | _USER_MAPS | frozenset({
    "metadata", "spec", "status", "name", "project", "tag", "runtime", "command", "handler", "args", "mode",
    "input_objects", "data_stores", "output_artifacts", "default_output_path", "secret_sources", "source", "prefix",
    "metrics", "xvalues", "yvalues", "error", "commit_message", "iterations", "key", "path", "url",
    "secret_prefix", "target_path", "description", "producer", "sources", "format", "viewer"})


def _hide_in_record(item, maskable: list[str]):
    """``_hide_in`` for a run record: identity fields and the format's own keys stay as they are."""
    if isinstance(item, dict):
        hidden = {}
        for key, value in item.items():
            if key in IDENTITY_FIELDS and isinstance(value, (str, int, float)):
                hidden[key] = value
            elif key in _USER_MAPS and isinstance(value, dict):
                hidden[key] = _hide_in(value, maskable)
            elif key == "metrics" and isinstance(value, dict):  # user names, each a history the format defines
                hidden[key] = {_hide_in(name, maskable): _hide_in_record(v, maskable) for name, v in value.items()}
            else:
                hidden[key if key in FORMAT_KEYS else _hide_in(key, maskable)] = _hide_in_record(value, maskable)
        return hidden
    if isinstance(item, (list, tuple)):
        return [_hide_in_record(v, maskable) for v in item]
    return _hide_in(item, maskable)


def _hide_in_data(data, maskable: list[str]):
    """``data`` with values hidden: a run record (a mapping with ``metadata``) keeps its structure."""
    maskable = maskable if isinstance(maskable, _Values) else _Values(maskable)
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        return _hide_in_record(data, maskable)
    return _hide_in(data, maskable)


def _hide_in(item, maskable: _Values):
    if isinstance(item, str):
        return _hide(item, maskable)
    if item.__class__ in (int, float) and item in maskable.numbers():
        return MASK
    if isinstance(item, dict):
        return {_hide_in(k, maskable): _hide_in(v, maskable) for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [_hide_in(v, maskable) for v in item]
    return item


# -- the process's own output ------------------------------------------------------------------
# Secret values (and lines of multi-line ones) every context of this process has held, oldest first:
# a long-lived server sees new ones with every request, so only the newest are kept.
_registry: dict[str, None] = {}
#: (values longest first, their first characters, the values sorted): replaced whole on change, read without a lock
_view: tuple[list[str], frozenset, list[str]] = ([], frozenset(), [])
#: secret values of requests served by this process: a thread a request started may print them after its
#: answer, so the console (what no request's capture holds) hides them too, but no request's log does
_requests_registry: dict[str, None] = {}
#: what the console hides: the process's own values and the requests' (the form of ``_view``)
_console_view: tuple[list[str], frozenset, list[str]] = _view
#: total characters the requests' values may hold in ``_requests_registry``: the oldest go first
REQUEST_VALUES_SIZE = 4 * 1024 * 1024
_log_masking_installed = False
#: the class of the masking streams, once installed (a check on every registration must be cheap)
_stream_type: list = [None]


def register(values: Iterable[str]) -> None:
    """Mask these values in the process's stdout, stderr and ``logging`` from now until it ends.

    Installs the masking streams and log records on first use: a process without secrets pays nothing.
    """
    _register(_maskable(values))


def _register(maskable: list[str], registry: dict | None = None, size: int = 0) -> None:
    global _view, _console_view
    registry = _registry if registry is None else registry
    added = False
    for value in maskable:
        if value in registry:
            del registry[value]  # the newest stay when the registry is full
        else:
            added = True
        registry[value] = None
    if added:
        limit = _registry_size()
        while len(registry) > limit or (size and len(registry) > 1 and sum(map(len, registry)) > size):
            del registry[next(iter(registry))]
        if registry is _registry:
            _view = _view_of(_registry)
        _console_view = _view_of({**_registry, **_requests_registry}) if _requests_registry else _view
    if _console_view[0] and not (type(sys.stdout) is _stream_type[0] and type(sys.stderr) is _stream_type[0]):
        _install_output_masking()


def _view_of(values) -> tuple[list[str], frozenset, list[str]]:
    ordered = _Values(sorted(values, key=len, reverse=True))
    return ordered, frozenset(value[0] for value in ordered), sorted(ordered)


def register_request(values: Iterable[str]) -> None:
    """Hide a served request's secret values on the console (what no request's capture holds) from now on.

    Not in other requests' logs or answers, nor in what ``write_own`` writes (the access log, a request's
    log already masked with its own secrets).  The newest values are kept, within ``REQUEST_VALUES_SIZE``.
    """
    maskable = _maskable(values)
    if maskable:
        _register(maskable, _requests_registry, REQUEST_VALUES_SIZE)


def scope_request(values: list[str]) -> None:
    """Hide ``values`` (a request's) in the log records the current thread or task makes, until its capture ends."""
    if values:
        request_values.set(values)
        if not _log_masking_installed:
            _install_output_masking()


def write_own(stream, text: str) -> None:
    """Write ``text`` to ``stream`` hiding the process's own secret values only, not the requests'."""
    if isinstance(stream, MaskedStream):
        stream.write_own(text)
    else:
        stream.write(text)


def registered() -> list[str]:
    """The values the process's output hides, longest first."""
    return _view[0]


def mask_output(text: str) -> str:
    """``text`` with every registered value hidden (what the process's streams and log records do)."""
    return _hide(text, _view[0])


def held_tail(text: str) -> int:
    """The length of the longest end of ``text`` that could begin a registered value (0 for none).

    A stream holds that much back until its next write, so a value written in two pieces still hides.
    """
    from bisect import bisect_right

    ordered = _console_view[0]
    if not ordered:
        return 0
    firsts, in_order = _console_view[1:]
    size = len(text)
    window = max(0, size - len(ordered[0]) + 1)
    longest = 0
    for first in firsts:
        at = text.find(first, window)
        while at != -1 and size - at > longest:
            tail = text[at:]
            after = bisect_right(in_order, tail)  # a longer value that starts with the tail sorts right after it
            if after < len(in_order) and in_order[after].startswith(tail):
                longest = size - at
                break
            at = text.find(first, at + 1)
    return longest


def _registry_size() -> int:
    try:
        return max(1, int(os.environ.get(MASK_REGISTRY_SIZE_ENV) or DEFAULT_MASK_REGISTRY_SIZE))
    except ValueError:
        return DEFAULT_MASK_REGISTRY_SIZE


def _install_output_masking() -> None:
    global _log_masking_installed
    _stream_type[0] = MaskedStream
    install_streams()  # checked on each call: notebooks and test runners replace sys.stdout behind our back
    if not _log_masking_installed:
        _log_masking_installed = True
        _install_log_masking()


def _install_log_masking() -> None:
    """Mask ``logging`` records as they are made: handlers holding the original streams write them too."""
    import logging

    previous = logging.getLogRecordFactory()

    def masked_record(*args, **kwargs):
        record = previous(*args, **kwargs)
        if _view[0] or request_values.get():
            _mask_log_record(record, logging)
        return record

    logging.setLogRecordFactory(masked_record)


def _mask_log_record(record, logging) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: logging reports it when the record is handled
        return
    scoped = request_values.get()
    if scoped:  # made while serving a request: its handlers may write anywhere, the request's values hide too
        def mask_output(text: str) -> str:
            return _hide(_hide(text, _view[0]), scoped)
    else:
        mask_output = globals()["mask_output"]
    masked = mask_output(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        masked = mask_output(text)
        if masked != text:
            record.exc_text = masked
    if record.stack_info:
        record.stack_info = mask_output(record.stack_info)
    fields = getattr(record, "with", None)  # nuclio-sdk's structured fields
    if isinstance(fields, dict):
        record.__dict__["with"] = _mask_data(_mask_data(fields, _view[0]), scoped or [])


# -- the process's streams -----------------------------------------------------------------------------
# stdout and stderr mask every registered value, whichever thread writes.  Towards the real stream a
# MaskedStream holds back at most an end of the text that could begin a secret, until the next write, a flush
# or exit, so a secret written in pieces hides as well.  A thread (or asyncio task) may route its writes into
# a buffer of its own instead (``output_route``: mlrun serve keeps each request's output so).
#: the buffer the current thread's or task's stdout and stderr writes go to (``None``: the real streams)
output_route: ContextVar[io.StringIO | None] = ContextVar("mlrun_output_buffer", default=None)
#: the secret values of the request the current thread or task serves, set by its run context: the log
#: records it makes hide them, whatever handler writes them (``mlrun.adapters.capture`` scopes it)
request_values: ContextVar[list | None] = ContextVar("mlrun_request_values", default=None)
_install_lock = Lock()


class MaskedStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: registered values masked; writes go to the buffer
    ``output_route`` names for the writing thread or task, if any, else to the real stream."""

    def __init__(self, stream):
        self.stream = stream
        self._held = ""  # an end of the text written that could begin a secret
        self._lock = Lock()

    def write(self, text: str) -> int:
        buffer = output_route.get()
        if not _console_view[0]:  # no secrets known: the plain path, nothing added
            if buffer is None:
                return self.stream.write(text) if not self._held else self._write_masked(text)
            return buffer.write(text)
        if buffer is not None:  # the run's log: masked whole once more when the run ends
            buffer.write(mask_output(text))
            return len(text)
        return self._write_masked(text)

    def _write_masked(self, text: str) -> int:
        with self._lock:  # the held end and the text that completes it must go out in order
            masked = _hide(self._held + text if self._held else text, _console_view[0])
            keep = held_tail(masked)
            self._held = masked[len(masked) - keep:] if keep else ""
            if len(masked) > keep:
                self.stream.write(masked[:len(masked) - keep])
        return len(text)

    def write_own(self, text: str) -> None:
        """Write to the real stream, hiding the process's own values only (see ``write_own``)."""
        masked = mask_output(text)
        with self._lock:
            held, self._held = self._held, ""
            self.stream.write(held + masked if held else masked)

    def writelines(self, lines) -> None:  # not passed through: the lines must be routed and masked too
        for line in lines:
            self.write(line)

    def release(self) -> None:
        """Write out what is held back (it is not a secret, or not all of one)."""
        if self._held:
            with self._lock:
                held, self._held = self._held, ""
                if held:
                    self.stream.write(held)

    def flush(self) -> None:
        if output_route.get() is None:
            self.release()
            self.stream.flush()

    def __getattr__(self, name: str):  # encoding, fileno, isatty, buffer, ...
        return getattr(self.stream, name)


_installed: list = []


def install_streams() -> None:
    """Put ``MaskedStream``s in place of sys.stdout and sys.stderr (idempotent).

    ``register`` and a per-request capture (``mlrun.adapters.capture``) call it; whatever ``sys.stdout`` is
    (a console, a notebook's stream, a test runner's capture) gets wrapped.
    """
    # checked on every call: test runners, notebooks and embedding servers swap sys.stdout behind our back
    if isinstance(sys.stdout, MaskedStream) and isinstance(sys.stderr, MaskedStream):
        return
    with _install_lock:
        if not _installed:
            import atexit

            atexit.register(_release_all)  # what is held back still reaches the console at exit
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, MaskedStream):
                wrapper = MaskedStream(stream)
                setattr(sys, name, wrapper)
                _installed.append(wrapper)
                del _installed[:-8]  # the current ones matter; a few replaced ones may still be held by someone


def _release_all() -> None:
    for stream in list(_installed):
        try:
            stream.release()
            stream.stream.flush()
        except (OSError, ValueError):  # a closed stream at exit: nothing more can reach it
            pass
