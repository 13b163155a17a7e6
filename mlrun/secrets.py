"""Secrets: loaded from sources, handed to code by key, recorded only by where they came from.

Sources: ``file`` (``KEY=VALUE`` lines, ``#`` comments and blank lines allowed, ``$VAR`` expanded),
``env`` (comma-separated environment variable names) and ``inline`` (a mapping given through the API).
Each source may carry a key prefix.  ``mask`` hides every known value in text about to be shown.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping

from .errors import SecretError

SOURCE_KINDS = ("file", "env", "inline")
MASK = "******"
#: shorter values are not masked: hiding every "1" or "a" would make output unreadable
MIN_MASKED_LENGTH = 3


class SecretsStore:
    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._sources: list[dict] = []
        self._inline_keys: set[str] = set()

    @classmethod
    def from_sources(cls, sources: Iterable[Mapping], inline: Mapping | None = None) -> "SecretsStore":
        """Rebuild a store from recorded source references (inline values come separately)."""
        store = cls()
        for source in sources:
            kind, ref, prefix = source.get("kind", ""), source.get("source", ""), source.get("prefix", "")
            if kind == "inline":  # the reference holds the final (prefixed) key names
                keys = ref if isinstance(ref, list) else []
                store.add_source("inline", {k: v for k, v in (inline or {}).items() if k in keys})
            else:
                store.add_source(kind, ref, prefix)
        return store

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
            if not isinstance(source, Mapping):
                raise SecretError(f"inline secrets must be a mapping, got {type(source).__name__}")
            values = {str(k): str(v) for k, v in source.items()}
            reference = sorted(prefix + k for k in values)
        else:
            raise SecretError(f"unknown secret source kind {kind!r} (expected one of: {', '.join(SOURCE_KINDS)})")
        self._secrets.update({prefix + k: v for k, v in values.items()})
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

    @property
    def sources(self) -> list[dict]:
        """Where the secrets came from (what a run record keeps)."""
        return [dict(s) for s in self._sources]

    def mask(self, text: str) -> str:
        return mask(text, self._secrets.values())


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


def mask(text: str, values: Iterable[str]) -> str:
    """Replace every secret value in ``text`` (longest first, so overlapping values hide fully)."""
    return _hide(text, _maskable(values))


def _maskable(values: Iterable[str]) -> list[str]:
    return sorted((v for v in values if v and len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True)


def _hide(text: str, maskable: list[str]) -> str:
    for value in maskable:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_bytes(data: bytes, values: Iterable[str]) -> bytes:
    for value in _maskable(values):
        encoded = value.encode("utf-8")
        if encoded in data:
            data = data.replace(encoded, MASK.encode())
    return data


def mask_data(data, values: Iterable[str]):
    """Plain data (a record) with every secret value hidden in its strings, keys included.

    A copy when there are values to hide; ``data`` itself otherwise.
    """
    maskable = _maskable(values)
    if not maskable:
        return data
    try:
        if not _in_json(json.dumps(data), maskable):
            return data
    except (TypeError, ValueError):
        pass
    return _hide_in(data, maskable)


def masked_json(data, values: Iterable[str]) -> str:
    """``json.dumps(mask_data(data, values))``, serialising once when no value shows (the usual case)."""
    text = json.dumps(data)
    maskable = _maskable(values)
    if maskable and _in_json(text, maskable):
        text = json.dumps(_hide_in(data, maskable))
    return text


def _in_json(text: str, maskable: list[str]) -> bool:
    # JSON escapes character by character: a value inside a string shows up escaped the same way
    return any(json.dumps(value)[1:-1] in text for value in maskable)


def _hide_in(item, maskable: list[str]):
    if isinstance(item, str):
        return _hide(item, maskable)
    if isinstance(item, dict):
        return {_hide_in(k, maskable): _hide_in(v, maskable) for k, v in item.items()}
    if isinstance(item, list):
        return [_hide_in(v, maskable) for v in item]
    return item
