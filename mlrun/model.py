"""The run record: ``metadata`` / ``spec`` / ``status``, as the YAML every run leaves behind.

Records are plain data: ``to_dict`` gives only YAML/JSON-safe builtins and
``RunRecord.from_dict(record.to_dict()) == record`` always holds.  Loading validates
field names and types, so a bad spec fails with the offending field named.
"""
from __future__ import annotations

import functools
import json
import os
import re

from .errors import InvalidSpecError, LimitExceededError

RUN_STATES = ("created", "running", "completed", "error")
#: the states a run may change to from each state.  Nothing goes back to ``created``, and an ended run
#: never runs again; ``completed`` -> ``error`` stays possible (an exception after the code completed its
#: run fails it, as does a launcher interrupted after its child ended), and ``error`` -> ``error`` tells a
#: later, truer reason (the launcher's signal over the child's own view).
TRANSITIONS = {
    "created": ("created", "running", "completed", "error"),
    "running": ("running", "completed", "error"),
    "completed": ("completed", "error"),
    "error": ("error",),
}
#: hyper-parameter iterations are numbered 1..MAX_ITERATION (0 is the run itself)
MAX_ITERATION = 2**31 - 1
#: uids name files and store keys: ASCII letters, digits, '_', '-' and '.', not starting with '.' or '-'
_UID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_uid(uid: str, field: str = "uid") -> str:
    """``uid`` itself when it can name a file and a store key; ``InvalidSpecError`` naming ``field`` otherwise."""
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise InvalidSpecError(f"{field} {uid!r}: use letters, digits, '_', '-' and '.' only "
                               "(at most 128, not starting with '.' or '-')", field)
    return uid


def check_iteration(iteration: int, field: str = "iteration") -> int:
    """``iteration`` itself when it is a whole number from 0 to ``MAX_ITERATION``."""
    if isinstance(iteration, bool) or not isinstance(iteration, int) or not 0 <= iteration <= MAX_ITERATION:
        raise InvalidSpecError(f"{field} must be a whole number from 0 to {MAX_ITERATION}, got {iteration!r}", field)
    return iteration


_utc_now = None


def now_iso() -> str:
    """The current time, ISO-8601 with the UTC offset."""
    global _utc_now
    if _utc_now is None:  # datetime is imported on first use: it would cost ``import mlrun`` a tenth
        from datetime import datetime, timezone

        _utc_now = functools.partial(datetime.now, timezone.utc)
    return _utc_now().isoformat()


#: the times of a record (``status.*``): kept as ``now_iso``'s UTC text, which sorts and compares as the instants
RECORD_TIMES = ("start_time", "last_update")


def utc_time(value, where: str) -> str:
    """``value`` as ``now_iso``'s UTC text: ISO-8601 text with a zone (a space may stand for the ``T``) or whole
    epoch seconds (as MLRun 1.x sends them); ``""`` stays ``""`` (not known).  Anything else is refused naming
    ``where``: text compared as text would order ``"not a date"`` above the year 2999, and ``+14:00`` times wrongly."""
    from datetime import datetime, timezone

    if value.__class__ is str:
        if not value:
            return value
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise InvalidSpecError(f"{where} must be an ISO-8601 time with a zone (e.g. 2024-01-31T12:00:00+00:00) "
                                   f"or epoch seconds, got {printable(value[:60])!r}", where)
    elif value.__class__ is int:
        try:
            when = datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise InvalidSpecError(f"{where} is out of range as epoch seconds: {value}", where) from None
    else:
        raise InvalidSpecError(f"{where} must be an ISO-8601 time with a zone or epoch seconds, got "
                               f"{type(value).__name__}", where)
    try:
        return when.astimezone(timezone.utc).isoformat()
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the last UTC time there is
        raise InvalidSpecError(f"{where} is out of range once converted to UTC: {value!r}", where) from None


def parse_time(text: str, field: str, end_of_day: bool = False) -> str:
    """An ISO-8601 date or time as the UTC ISO string run records use; naive times are UTC."""
    from datetime import datetime, time, timezone

    try:
        when = datetime.fromisoformat(text.strip())
        if end_of_day and len(text.strip()) == 10:  # a bare date: up to the end of that day
            when = datetime.combine(when.date(), time.max)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).isoformat()
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last UTC time there is
        raise InvalidSpecError(f"{field} {repr(text[:40])} is out of range once converted to UTC", field) from None
    except ValueError:
        raise InvalidSpecError(f"{field} must be an ISO-8601 date or time (e.g. 2024-01-31 or "
                               f"2024-01-31T12:00:00+00:00), got {repr(text[:40])}", field) from None


def utc_times(data):
    """The record ``data`` (plain data) with its times (``RECORD_TIMES``) as ``utc_time`` gives them: what every
    store keeps.  ``data`` itself is left as it is; a copy (of the record and its status) only when a time changes."""
    status = data.get("status") if data.__class__ is dict else None
    if status.__class__ is not dict:
        return data  # not a record: the model says what is wrong with it
    changed = {}
    for name in RECORD_TIMES:
        value = status.get(name)
        if value is not None:
            text = utc_time(value, f"status.{name}")
            if text != value:
                changed[name] = text
    return {**data, "status": {**status, **changed}} if changed else data


def known_time(value) -> str:
    """A stored time as ``now_iso``'s UTC text, or ``""`` when it is not one (records of older versions, made
    by hand): what listings order and filters compare."""
    try:
        return utc_time(value, "time") if value.__class__ is str else ""
    except InvalidSpecError:
        return ""


_yaml_codec: tuple = ()


def _codec() -> tuple:
    """(dumper, loader) classes, built on first use: PyYAML is imported only when YAML is needed."""
    global _yaml_codec
    if not _yaml_codec:

        try:  # libyaml makes large records (long metric histories) several times faster
            from yaml import CSafeDumper as Dumper
            from yaml import CSafeLoader as Loader
        except ImportError:  # pragma: no cover - PyYAML built without libyaml
            from yaml import SafeDumper as Dumper
            from yaml import SafeLoader as Loader

        class RecordDumper(Dumper):
            """Mappings as blocks, lists of scalars inline (``xvalues: ['1', '2', '3']``), as in the seed's records."""

            def ignore_aliases(self, data) -> bool:  # a shared object is written out again, never as ``*id001``
                return True

        def represent_list(dumper, data):
            flat = all(isinstance(v, (str, int, float, bool)) or v is None for v in data)
            return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

        RecordDumper.add_representer(list, represent_list)
        _yaml_codec = (RecordDumper, Loader)
    return _yaml_codec


def dump_yaml(data) -> str:
    """``data`` as block YAML, never with anchors or aliases: a record is a tree, even where two of its
    fields share one object.  Text that cannot be encoded (lone surrogates) is written escaped (``printable``)."""
    import yaml

    try:
        return yaml.dump(data, Dumper=_codec()[0], default_flow_style=False, sort_keys=False, allow_unicode=True)
    except UnicodeEncodeError:  # rare: only then pay for a pass over every string
        return yaml.dump(printable(data), Dumper=_codec()[0], default_flow_style=False, sort_keys=False,
                         allow_unicode=True)


def load_yaml(text: str | bytes) -> object:
    """YAML text as plain data.  Aliases come back as shared objects: for text from outside use
    ``parse_struct``, which bounds what they expand to."""
    import yaml

    return yaml.load(text, Loader=_codec()[1])


# -- parsing text from outside: size, depth and alias limits ------------------------------------------------
#: the environment variables of the parsing limits, and their defaults
SPEC_SIZE_ENV, SPEC_DEPTH_ENV, SPEC_ALIAS_NODES_ENV = "MLRUN_MAX_SPEC_SIZE", "MLRUN_MAX_SPEC_DEPTH", \
    "MLRUN_MAX_SPEC_ALIAS_NODES"
#: 128 MiB: a run with a million metric points is about 20 MB of JSON or YAML
DEFAULT_MAX_SPEC_SIZE = 128 * 1024 * 1024
DEFAULT_MAX_SPEC_DEPTH = 100
#: what YAML aliases may add to a spec, counted as if expanded (a tree without aliases adds nothing)
DEFAULT_MAX_SPEC_ALIAS_NODES = 10_000


class SpecLimitError(LimitExceededError, InvalidSpecError):
    """Text given to ``parse_struct`` is larger or deeper than a limit: a spec error that is also a 413."""


@functools.lru_cache(maxsize=1)
def spec_limits() -> tuple[int, int, int]:
    """``(size in bytes, depth, alias nodes)``: ``$MLRUN_MAX_SPEC_SIZE``, ``_DEPTH``, ``_ALIAS_NODES`` or the defaults.

    Read once, at the first parse (``spec_limits.cache_clear()`` reads them again): a server parses on every
    request, and looking three variables up costs more than parsing a small spec.
    """
    return (_limit(SPEC_SIZE_ENV, DEFAULT_MAX_SPEC_SIZE), _limit(SPEC_DEPTH_ENV, DEFAULT_MAX_SPEC_DEPTH),
            _limit(SPEC_ALIAS_NODES_ENV, DEFAULT_MAX_SPEC_ALIAS_NODES))


def _limit(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise InvalidSpecError(f"${name} must be a whole number from 1, got {text!r}", name)
    return value


def parse_struct(text: str | bytes, what: str = "spec") -> dict:
    """Parse JSON or YAML text from outside into a mapping; a one-line ``InvalidSpecError`` otherwise.

    Text is hostile until parsed, so three limits hold (see ``spec_limits``), each refused with a one-line
    ``LimitExceededError`` (HTTP 413) naming the limit:

    - size: text longer than ``$MLRUN_MAX_SPEC_SIZE`` bytes is not parsed at all;
    - depth: mappings and lists nested deeper than ``$MLRUN_MAX_SPEC_DEPTH`` levels (pages, copies and
      dumps recurse);
    - aliases: YAML's ``&anchor`` / ``*alias`` load as shared objects, so 300 bytes can stand for a hundred
      million nodes, and the blow-up comes later, when the spec is copied, dumped or sent.  The loaded
      object graph is counted as if expanded (memoised by object id, so counting stays cheap) and refused
      when aliases add more than ``$MLRUN_MAX_SPEC_ALIAS_NODES`` nodes to it: a few anchors in a spec
      written by hand still load, a bomb does not.  Text without ``&`` has no anchors and is not counted.

    JSON ``\\udXXX`` escapes of lone surrogates load as they are: ``RunRecord.from_dict`` makes them printable.
    """
    max_size, max_depth, max_alias_nodes = spec_limits()
    if len(text) > max_size or (not isinstance(text, bytes) and len(text) * 4 > max_size and not text.isascii()
                                and len(text.encode("utf-8", "surrogatepass")) > max_size):
        raise SpecLimitError(f"{what} is larger than the limit of {max_size} bytes (${SPEC_SIZE_ENV})")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSpecError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise InvalidSpecError(f"{what} is empty")
    try:
        try:
            data = json.loads(stripped) if stripped[0] in "{[" else None
        except ValueError:  # not JSON after all: YAML below
            data = None
        if data is not None:
            # JSON has no aliases, and with no more brackets than levels allowed it cannot be too deep
            if _more_brackets(stripped, max_depth):
                _check_graph(data, what, max_depth, None)
        else:
            data = _load_yaml_or_fail(stripped, what)
            # every YAML document is measured: loading it took ten times longer than this walk
            _check_graph(data, what, max_depth, max_alias_nodes if "&" in stripped else None)
    except RecursionError:  # thousands of brackets (a hostile request body): a bad spec, not a crash
        raise _too_deep(what, max_depth) from None
    if not isinstance(data, dict):
        raise InvalidSpecError(f"{what} must be a mapping, got {type(data).__name__}")
    return data


def _more_brackets(text: str, limit: int) -> bool:
    """Whether ``text`` holds more than ``limit`` of ``[`` and ``{`` together.  A long text is searched (memchr)
    from bracket to bracket, up to ``limit``: a million metric points hold a handful, counting each character
    of their 20 MB would cost a fifth of parsing them."""
    if len(text) < 65536:
        return text.count("[") + text.count("{") > limit
    found = 0
    for bracket in "[{":
        at = text.find(bracket)
        while at >= 0:
            found += 1
            if found > limit:
                return True
            at = text.find(bracket, at + 1)
    return False


def _load_yaml_or_fail(text: str, what: str) -> object:
    import yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        if "maximum nesting depth" in problem:  # libyaml's own bound (1000 levels)
            raise _too_deep(what, spec_limits()[1]) from None
        raise InvalidSpecError(f"{what} is not valid JSON or YAML{where}: {problem}") from None
    except UnicodeEncodeError as exc:  # a str holding lone surrogates (text decoded with surrogateescape)
        raise InvalidSpecError(f"{what} is not UTF-8 text (a lone surrogate at character {exc.start})") from None


_CONTAINER_TYPES = frozenset((dict, list))


def _check_graph(data, what: str, max_depth: int, max_alias_nodes: int | None) -> None:
    """Refuse ``data`` nested deeper than ``max_depth`` or, with ``max_alias_nodes``, whose shared objects
    (YAML aliases) add more than that many nodes when expanded.  Each object is walked once (memoised by
    id): the expanded count of a bomb is computed without expanding it."""
    if type(data) not in _CONTAINER_TYPES:
        return
    memo: dict = {}  # id -> (nodes as if expanded, levels)
    distinct = 0

    def walk(node, depth: int) -> tuple[int, int]:
        nonlocal distinct
        seen = memo.get(id(node))
        if seen is not None:
            if depth + seen[1] - 1 > max_depth:
                raise _too_deep(what, max_depth)
            return seen
        if depth > max_depth:  # also where a self-referencing alias (``&a [*a]``) ends
            raise _too_deep(what, max_depth)
        children = node.values() if type(node) is dict else node
        nodes, levels = 1 + len(node), 1
        distinct += nodes
        # long lists of scalars (metric histories) are told apart in C, not looked at one by one
        if len(node) < 32 or not _CONTAINER_TYPES.isdisjoint(set(map(type, children))):
            for child in children:
                if type(child) is dict or type(child) is list:
                    child_nodes, child_levels = walk(child, depth + 1)
                    nodes += child_nodes - 1
                    levels = max(levels, child_levels + 1)
        memo[id(node)] = (nodes, levels)
        return nodes, levels

    nodes, _ = walk(data, 1)
    if max_alias_nodes is not None and nodes - distinct > max_alias_nodes:
        raise SpecLimitError(f"{what} uses YAML aliases that expand to {nodes} nodes: more than "
                             f"{max_alias_nodes} added (${SPEC_ALIAS_NODES_ENV})")


def _too_deep(what: str, max_depth: int) -> SpecLimitError:
    return SpecLimitError(f"{what} is nested too deeply: deeper than {max_depth} levels (${SPEC_DEPTH_ENV})")


# -- fields the record model does not know -----------------------------------------------------------------
#: set to 1 (or true, yes, on): refuse unknown fields instead of leaving them out with a warning
STRICT_SPEC_ENV = "MLRUN_STRICT_SPEC"


def strict_spec() -> bool:
    """Whether unknown fields are refused (``$MLRUN_STRICT_SPEC``); read when one is met, never on the usual path."""
    return os.environ.get(STRICT_SPEC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def unknown_field(where: str, names: tuple) -> bool:
    """A field the record model does not know, at ``where`` (``metadata.lables``): left out of the record with an
    ``UnknownFieldWarning`` naming it and the closest known name, or refused in strict mode.  Returns False.

    The warning is one line on stderr (``mlrun:0: UnknownFieldWarning: ...``), shown every time: a server logs each
    request that carried one, and a served run's log gets it (the process's stderr is captured per request).
    """
    from difflib import get_close_matches

    field = where.rpartition(".")[2]
    close = get_close_matches(field, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else f" (expected one of: {', '.join(names)})"
    kind = "field" if "." in where else "section"
    if strict_spec():
        raise InvalidSpecError(f"{where} is not a known {kind}{hint}", where)
    import warnings

    from .errors import UnknownFieldWarning

    # a fresh registry each time: the once-per-place rule would hide it from every later run of a server
    warnings.warn_explicit(f"{where} is not a known {kind}{hint}: left out of the record (${STRICT_SPEC_ENV}=1 "
                           "refuses it)", UnknownFieldWarning, "mlrun", 0, module="mlrun.model", registry={})
    return False


def printable(value):
    """``value`` with every string that holds lone surrogates (bytes that were not UTF-8, as Python decodes
    them with ``surrogateescape``) made encodable: the byte 0xff as the text ``\\xff``.  Containers are
    rebuilt only where something changed; anything else comes back as it is."""
    if type(value) is str:
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape" if _only_escaped_bytes(value) else "backslashreplace") \
                .decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        items = [(printable(k), printable(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=False)):
            return value
        return dict(items)
    if isinstance(value, list):
        items = [printable(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=False)) else items
    return value


def _only_escaped_bytes(text: str) -> bool:
    # surrogateescape's range: U+DC80..U+DCFF stand for the bytes 0x80..0xff
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


class _Section:
    """A record section: a fixed set of builtin-typed fields, validated on load.

    (Plain classes rather than dataclasses: ``dataclasses`` costs more at import than the rest of mlrun.)
    Loading and dumping work on the instance's ``__dict__``: a server does both on every request.
    """

    #: (name, type, default factory) for each field, in record order
    FIELDS: tuple = ()
    _NAMES: tuple = ()
    #: other names a field is read by (the seed system's): name -> ours; records keep ours only
    ALIASES: dict = {}

    #: fields newer than the wire format, written only when they differ from their default: an older mlrun
    #: (which refuses fields it does not know) still reads what this one writes, client or function alike
    WRITTEN_WHEN_SET: tuple = ()
    _UNSET: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._NAMES = tuple(name for name, _, _ in cls.FIELDS)
        cls._UNSET = tuple((name, default()) for name, _, default in cls.FIELDS if name in cls.WRITTEN_WHEN_SET)

    def __init__(self, **values):
        for name, _, default in self.FIELDS:
            setattr(self, name, values.pop(name) if name in values else default())
        if values:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(values))!r}")

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._NAMES)})"

    def to_dict(self, copy: bool = True) -> dict:
        fields = self.__dict__
        data = {name: fields[name] for name in self._NAMES} if not copy else {
            name: _copy(fields[name]) for name in self._NAMES}
        for name, default in self._UNSET:
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data, path: str = "", copy: bool = True):
        if data is None:
            return cls()
        path = path or cls.__name__
        if not isinstance(data, dict):
            raise InvalidSpecError(f"{path} must be a mapping, got {type(data).__name__}", path)
        fields = {}
        known = 0
        for name, expected, default in cls.FIELDS:
            value = data.get(name, None)
            if value is None:  # absent and null mean "use the default"
                known += name in data
                value = default()
            else:
                known += 1
                if type(value) is not expected and (expected is int and isinstance(value, bool)
                                                    or not isinstance(value, expected)):
                    raise InvalidSpecError(f"{path}.{name} must be {_TYPE_NAMES[expected]}, got {type(value).__name__}",
                                           f"{path}.{name}")
                if copy:
                    value = _load_copy(value)
                elif expected is str and not value.isascii():  # stores index these: they must encode
                    value = printable(value)
            fields[name] = value
        if known != len(data):  # a seed-era name or an unknown field: only then is anything more paid for
            return cls.from_dict(cls._known_fields(data, path), path, copy)
        cls._check(fields, path)
        section = cls.__new__(cls)  # fields set once, here: loading runs on every request a server gets
        section.__dict__ = fields
        return section

    @classmethod
    def _known_fields(cls, data: dict, path: str) -> dict:
        """``data`` with seed-era names (``ALIASES``) given ours and unknown fields left out (``unknown_field``).

        A name given in both spellings must hold one value: two different ones are refused, naming both.
        """
        known = {}
        for name, value in data.items():
            ours = cls.ALIASES.get(name, name) if name.__class__ is str else name
            if ours not in cls._NAMES:
                unknown_field(f"{path}.{printable(str(name))}", cls._NAMES)
            elif value is not None:
                if known.get(ours) is not None and known[ours] != value:
                    seed = next(k for k, v in cls.ALIASES.items() if v == ours)
                    _refuse(f"{path}.{seed}", f" and {path}.{ours} are two names of one field: "
                                              "give one of them (or both with one value)")
                known[ours] = value
            else:
                known.setdefault(ours, None)
        return known

    @staticmethod
    def _check(fields: dict, path: str) -> None:
        """Check (or normalise, in ``fields``) what the types alone do not say; ``InvalidSpecError`` naming it.

        Only the shapes of containers are checked, never each element of a long list: a record can hold
        a million metric points, and a server loads it on every request.
        """


_TYPE_NAMES = {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}


def _copy(value):
    # records are shared between a context and its store: hand out copies of containers
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, _COPIED) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, _COPIED) else v for v in value]
    return value


def _load_copy(value):
    """``_copy`` for loading: text that would not encode (lone surrogates, from code or JSON escapes) is also
    escaped (``printable``).  An ASCII string costs one ``isascii`` (a flag, not a scan)."""
    if isinstance(value, dict):
        return {k if k.__class__ is not str or k.isascii() else printable(k):
                _load_copy(v) if isinstance(v, _COPIED) else v if v.__class__ is not str or v.isascii()
                else printable(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > 32:  # long lists (metric histories) are told ASCII or plain numbers in C
            kinds = set(map(type, value))
            if kinds.isdisjoint(_LOAD_LOOKED_AT) or kinds == _STR_ONLY and "".join(value).isascii():
                return value[:]
        return [_load_copy(v) if isinstance(v, _COPIED) else v if v.__class__ is not str or v.isascii()
                else printable(v) for v in value]
    return value if value.__class__ is not str or value.isascii() else printable(value)


_COPIED = (dict, list)
_LOAD_LOOKED_AT = frozenset((str, dict, list))
_STR_ONLY = {str}


class RunMetadata(_Section):
    name: str
    uid: str
    project: str
    tag: str
    iteration: int
    labels: dict
    annotations: dict
    FIELDS = (("name", str, str), ("uid", str, str), ("project", str, str), ("tag", str, str),
              ("iteration", int, int), ("labels", dict, dict), ("annotations", dict, dict))

    @staticmethod
    def _check(fields: dict, path: str) -> None:
        uid, iteration = fields["uid"], fields["iteration"]
        if uid and not _UID.fullmatch(uid):
            check_uid(uid, f"{path}.uid")
        if iteration and not 0 <= iteration <= MAX_ITERATION:
            check_iteration(iteration, f"{path}.iteration")
        if fields["labels"]:
            fields["labels"] = _text_map(fields["labels"], path, "labels")
        if fields["annotations"]:
            fields["annotations"] = _text_map(fields["annotations"], path, "annotations")


def _text_map(values: dict, path: str, name: str) -> dict:
    """Labels and annotations: string keys, and values stored as strings (numbers and booleans as ``str()``
    writes them, as ``RunContext.set_label`` does); any other value is refused."""
    for key, value in values.items():
        if key.__class__ is not str or value.__class__ is not str or not key.isascii() or not value.isascii():
            break
    else:
        return values
    where, converted = f"{path}.{name}", {}
    for key, value in values.items():
        if not isinstance(key, str):
            _refuse(where, f" keys must be strings, got {type(key).__name__} {key!r}")
        if not isinstance(value, (str, int, float)):  # bool is an int
            _refuse(f"{where}.{key}", f" must be a string, number or boolean, got {_kind(value)}")
        converted[printable(key)] = printable(value) if isinstance(value, str) else str(value)
    return converted


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _refuse(where: str, problem: str):
    raise InvalidSpecError(where + problem, where)


def _entry_problem(entry, required: tuple) -> tuple[str, str] | None:
    """``None`` when ``entry`` is a mapping whose ``required`` fields are strings, else (sub-path, problem)."""
    if entry.__class__ is not dict and not isinstance(entry, dict):
        return "", f" must be a mapping, got {_kind(entry)}"
    for name in required:
        value = entry.get(name)
        if value.__class__ is not str and not isinstance(value, str):
            return f".{name}", " must be a string"
    return None


def _check_entry(entry, where: str) -> None:
    """An artifact or input entry: a mapping with a string ``key``, else refused naming ``where``."""
    problem = _entry_problem(entry, ("key",))
    if problem:
        _refuse(f"{where}{problem[0]}", problem[1])


class RunSpec(_Section):
    #: how the run was started: ``kind`` (local, remote, ...), ``command``, ``handler``, ``args``
    runtime: dict
    parameters: dict
    #: inputs the run asked for: ``[{key, path}]``
    input_objects: list
    #: named data stores: ``[{name, url, secret_prefix}]``
    data_stores: list
    #: artifact targets given up front: ``[{key, path}]``
    output_artifacts: list
    default_output_path: str
    #: where secrets came from, never their values: ``[{kind, source}]``
    secret_sources: list
    #: parameter sweeps (hyper-parameter runs): ``{name: [values]}``
    hyperparams: dict
    #: sweep options: strategy, selector, max_iterations, ...
    hyper_options: dict
    #: the level of the context's logger (``ctx.logger``): one of ``LOG_LEVELS``
    log_level: str
    FIELDS = (("runtime", dict, lambda: {"kind": "", "command": ""}), ("parameters", dict, dict),
              ("input_objects", list, list), ("data_stores", list, list), ("output_artifacts", list, list),
              ("default_output_path", str, str), ("secret_sources", list, list), ("hyperparams", dict, dict),
              ("hyper_options", dict, dict), ("log_level", str, lambda: "info"))
    WRITTEN_WHEN_SET = ("log_level",)
    #: the seed system's names of our fields
    ALIASES = {"input_artifacts": "input_objects", "output_path": "default_output_path"}
    #: list fields a run acts on, and the string fields each of their entries must have
    REFERENCES = {"input_objects": ("key", "path"), "output_artifacts": ("key", "path"), "secret_sources": ("kind",),
                  "data_stores": ("name", "url")}

    @staticmethod
    def _check(fields: dict, path: str) -> None:
        for field, required in _SPEC_REFERENCES:
            entries = fields[field]
            if entries:
                for i, entry in enumerate(entries):
                    problem = _entry_problem(entry, required)
                    if problem:
                        _refuse(f"{path}.{field}[{i}]{problem[0]}", problem[1])
        level = fields["log_level"]
        if level not in LOG_LEVELS:
            fields["log_level"] = _log_level(level, f"{path}.log_level")


#: the levels ``spec.log_level`` takes, as ``logging`` names them (lower case)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level(level: str, where: str) -> str:
    """``level`` as one of ``LOG_LEVELS`` (any case; ``warn`` is ``warning``), else refused naming ``where``."""
    name = level.strip().lower()
    name = "warning" if name == "warn" else name
    if name not in LOG_LEVELS:
        _refuse(where, f" must be one of {', '.join(LOG_LEVELS)}, got {printable(level)!r}")
    return name


_SPEC_REFERENCES = tuple(RunSpec.REFERENCES.items())


class RunStatus(_Section):
    state: str
    outputs: dict
    #: ``{key: {labels, xvalues, yvalues}}``
    metrics: dict
    start_time: str
    last_update: str
    #: inputs as read, with lineage: ``[{key, url, size, etag, read_time}]``
    input_objects: list
    #: ``[{key, kind, viewer, target_path, size, sha256, format, description, producer, sources, labels}]``
    output_artifacts: list
    error: str
    commit_message: str
    #: hyper-parameter runs: one summary row per iteration
    iterations: list
    FIELDS = (("state", str, lambda: "created"), ("outputs", dict, dict), ("metrics", dict, dict),
              ("start_time", str, str), ("last_update", str, str), ("input_objects", list, list),
              ("output_artifacts", list, list), ("error", str, str), ("commit_message", str, str),
              ("iterations", list, list))
    #: the optional fields of an output artifact that pages and tools read, with their types
    ARTIFACT_FIELDS = (("target_path", str), ("size", int), ("sha256", str), ("format", str), ("description", str),
                       ("labels", dict), ("kind", str), ("viewer", str))

    @staticmethod
    def _check(fields: dict, path: str) -> None:
        metrics = fields["metrics"]
        if metrics:
            for key, metric in metrics.items():
                if metric.__class__ is dict and key.__class__ is str:
                    xvalues, yvalues, labels = metric.get("xvalues"), metric.get("yvalues"), metric.get("labels")
                    if (xvalues.__class__ is list and yvalues.__class__ is list and len(xvalues) == len(yvalues)
                            and (labels is None or labels.__class__ is dict)):
                        continue
                _check_metric(key, metric, f"{path}.metrics")
        entries = fields["output_artifacts"]
        if entries:
            for i, entry in enumerate(entries):
                _check_entry(entry, f"{path}.output_artifacts[{i}]")
                for name, expected in _ARTIFACT_FIELDS:
                    value = entry.get(name)
                    if value is not None and value.__class__ is not expected and (
                            not isinstance(value, expected) or expected is int and isinstance(value, bool)):
                        _refuse(f"{path}.output_artifacts[{i}].{name}",
                                f" must be {_TYPE_NAMES[expected]}, got {_kind(value)}")
        entries = fields["input_objects"]
        if entries:
            for i, entry in enumerate(entries):
                _check_entry(entry, f"{path}.input_objects[{i}]")
        rows = fields["iterations"]
        if rows:
            kind = dict if isinstance(rows[0], dict) else list
            for i, row in enumerate(rows):
                if not isinstance(row, kind):
                    _refuse(f"{path}.iterations[{i}]", f" must be {_TYPE_NAMES[kind]} like the first row (the rows "
                                                       f"are all lists or all mappings), got {_kind(row)}")


_ARTIFACT_FIELDS = RunStatus.ARTIFACT_FIELDS


def _check_metric(key, metric, where: str) -> None:
    """A metric: ``{labels, xvalues, yvalues}``, two lists of one length (their points are not looked at)."""
    if not isinstance(key, str):
        _refuse(where, f" keys must be strings, got {type(key).__name__} {key!r}")
    where = f"{where}.{key}"
    if not isinstance(metric, dict):
        _refuse(where, f" must be a mapping with xvalues and yvalues lists, got {_kind(metric)}")
    xvalues, yvalues, labels = metric.get("xvalues"), metric.get("yvalues"), metric.get("labels")
    for name, value in (("xvalues", xvalues), ("yvalues", yvalues)):
        if not isinstance(value, list):
            _refuse(f"{where}.{name}", f" must be a list, got {_kind(value)}")
    if len(xvalues) != len(yvalues):
        _refuse(where, f": xvalues and yvalues must be as long as each other, got {len(xvalues)} and {len(yvalues)}")
    if labels is not None and not isinstance(labels, dict):
        _refuse(f"{where}.labels", f" must be a mapping, got {_kind(labels)}")


class RunRecord:
    """A run: ``metadata`` (who), ``spec`` (what was asked), ``status`` (what happened)."""

    def __init__(self, metadata: RunMetadata | None = None, spec: RunSpec | None = None,
                 status: RunStatus | None = None):
        self.metadata = metadata or RunMetadata()
        self.spec = spec or RunSpec()
        self.status = status or RunStatus()

    def __eq__(self, other) -> bool:
        return isinstance(other, RunRecord) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"<RunRecord {self.metadata.name or '?'} uid={self.metadata.uid} state={self.status.state}>"

    # convenience accessors used all over: the record stays plain data
    @property
    def uid(self) -> str:
        return self.metadata.uid

    @property
    def state(self) -> str:
        return self.status.state

    def shown_name(self) -> str:
        """The run's name; until its code names it, its command's (``train`` for ``train.py``), else ``run``."""
        if self.metadata.name:
            return self.metadata.name
        command = self.spec.runtime.get("command", "") if isinstance(self.spec.runtime, dict) else ""
        return os.path.splitext(os.path.basename(command.rstrip("/")))[0] or "run"

    @property
    def outputs(self) -> dict:
        return self.status.outputs

    # -- state changes: the only writers of ``status.state`` ------------------------------------
    def set_state(self, state: str, now: str | None = None) -> None:
        """Change to ``state`` (``InvalidTransitionError`` when ``TRANSITIONS`` does not allow it), updated ``now``."""
        if state not in TRANSITIONS.get(self.status.state, ()):
            from .errors import InvalidTransitionError

            raise InvalidTransitionError(f"run {self.metadata.uid or '?'} cannot go from {self.status.state} "
                                         f"to {state}")
        self.status.state = state
        self.status.last_update = now or now_iso()

    def start(self, now: str | None = None) -> None:
        """``created`` -> ``running`` (a running run stays so); the start time is set once."""
        self.set_state("running", now)
        if not self.status.start_time:
            self.status.start_time = self.status.last_update

    def complete(self) -> None:
        """The run ended well (from ``created`` or ``running``; an ``error`` stays one: refused)."""
        self.set_state("completed")

    def fail(self, reason: str) -> None:
        """The run ended in ``error`` with ``reason`` (from any state: a later failure is the truer one)."""
        self.set_state("error")
        self.status.error = reason

    def finish(self, error: str = "") -> None:
        """``complete()``, or ``fail(error)`` when there is one."""
        if error:
            self.fail(error)
        else:
            self.complete()

    def touch(self) -> None:
        """Mark the record as updated now."""
        self.status.last_update = now_iso()

    def to_dict(self, copy: bool = True) -> dict:
        """The record as plain data; ``copy=False`` shares containers with the record (read-only use)."""
        return {"metadata": self.metadata.to_dict(copy), "spec": self.spec.to_dict(copy),
                "status": self.status.to_dict(copy)}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data, copy: bool = True) -> RunRecord:
        """Load and validate; ``copy=False`` shares containers with ``data`` (for read-only use)."""
        if isinstance(data, RunRecord):
            return data.copy()
        if not isinstance(data, dict):
            raise InvalidSpecError(f"run spec must be a mapping, got {type(data).__name__}")
        if len(data) > 3 or any(k not in _SECTIONS for k in data):
            # MLRun 1.x's records say ``kind: run`` at the top: what every record is, so nothing to keep
            data = {k: v for k, v in data.items() if k in _SECTIONS or not (k == "kind" and v == "run")
                    and unknown_field(printable(str(k)), _SECTIONS)}
        record = cls(
            RunMetadata.from_dict(data.get("metadata"), "metadata", copy),
            RunSpec.from_dict(data.get("spec"), "spec", copy),
            RunStatus.from_dict(data.get("status"), "status", copy),
        )
        if record.status.state not in RUN_STATES:
            raise InvalidSpecError(f"status.state must be one of {', '.join(RUN_STATES)}, got {record.status.state!r}",
                                   "status.state")
        return record

    @classmethod
    def from_text(cls, text: str | bytes, what: str = "run spec") -> RunRecord:
        """Load a record or spec from JSON or YAML text."""
        return cls.from_dict(parse_struct(text, what))

    def copy(self) -> RunRecord:
        return RunRecord.from_dict(self.to_dict())

    def summary(self) -> dict:
        """The few fields listings show: cheap to store, index and send; printable text (see ``printable``)."""
        outputs = {k: v for k, v in self.status.outputs.items() if is_scalar(v)}
        for key, value in outputs.items():  # the other fields were made printable when the record was loaded
            if key.__class__ is str and not key.isascii() or value.__class__ is str and not value.isascii():
                outputs = printable(outputs)
                break
        return {
            "uid": self.metadata.uid,
            "name": self.metadata.name,
            "project": self.metadata.project,
            "iteration": self.metadata.iteration,
            "labels": dict(self.metadata.labels),
            "state": self.status.state,
            "start_time": self.status.start_time,
            "last_update": self.status.last_update,
            "outputs": outputs,
            # for filters over parameters: scalars only, and no long text (summaries stay small)
            "parameters": printable({k: v for k, v in self.spec.parameters.items()
                                     if is_scalar(v) and not (isinstance(v, str) and len(v) > SUMMARY_TEXT)}),
            "error": self.status.error,
        }


_SECTIONS = ("metadata", "spec", "status")

#: the longest text parameter a summary carries
SUMMARY_TEXT = 256


def is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def iterations_table(iterations: list[RunRecord], swept: tuple | list = ()) -> list[list]:
    """The results table of a run's iterations (``status.iterations``): a header (``state``, ``iter``, ``param.NAME``
    for the swept parameters, then the fixed ones, ``output.KEY``: the seed system's and MLRun 1.x's columns),
    then a row per iteration, in the order given."""
    names = list(dict.fromkeys([*swept, *(k for r in iterations for k, v in r.spec.parameters.items()
                                          if is_scalar(v))]))
    keys = list(dict.fromkeys(k for r in iterations for k, v in r.status.outputs.items() if is_scalar(v)))
    rows = [["state", "iter", *(f"param.{n}" for n in names), *(f"output.{k}" for k in keys)]]
    for r in iterations:
        rows.append([r.state, r.metadata.iteration, *(r.spec.parameters.get(n) for n in names),
                     *(r.status.outputs.get(k) if is_scalar(r.status.outputs.get(k)) else None for k in keys)])
    return rows


class HyperParamStrategies:
    """MLRun 1.x's names of the sweep strategies (``mlrun.hyper.strategies``)."""

    grid = "grid"
    list = "list"
    random = "random"
    custom = "custom"

    @staticmethod
    def all() -> list:
        return ["grid", "list", "random", "custom"]


class HyperParamOptions:
    """MLRun 1.x's sweep options object, given as ``fn.run(hyper_param_options=...)`` or ``new_task(...)``:
    ``strategy``, ``param_file``, ``selector`` (``max.KEY``, ``min.KEY``, a bare ``KEY``), ``stop_condition``,
    ``parallel_runs``, ``dask_cluster_uri``, ``max_iterations``, ``max_errors``, ``teardown_dask``."""

    FIELDS = ("param_file", "strategy", "selector", "stop_condition", "parallel_runs", "dask_cluster_uri",
              "max_iterations", "max_errors", "teardown_dask")

    def __init__(self, param_file=None, strategy=None, selector=None, stop_condition=None, parallel_runs=None,
                 dask_cluster_uri=None, max_iterations=None, max_errors=None, teardown_dask=None):
        values = locals()
        for name in self.FIELDS:
            setattr(self, name, values[name])

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS if getattr(self, name) is not None}

    def __repr__(self) -> str:
        return f"HyperParamOptions({self.to_dict()!r})"
