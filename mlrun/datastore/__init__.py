"""Data stores keyed by URL scheme.

``get_item(url)`` returns a ``DataItem`` whatever the URL: a local path, ``file://``, ``s3://``,
``http(s)://`` or ``memory://``.  The registry maps a scheme to a dotted class path, imported on
first use, so ``import mlrun`` never pays for boto3 or requests.  Third parties add schemes with
``register_store("myscheme", MyStore)`` or through the ``mlrun.datastores`` entry-point group.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..errors import InvalidInputError
from ..plugins import load
from .base import DataItem, DataStore, FileStat

__all__ = ["DataItem", "DataStore", "FileStat", "get_item", "get_store", "register_store", "known_schemes"]

# scheme -> (dotted path, pip extra that provides its dependencies)
_REGISTRY: dict[str, tuple[str | type, str]] = {
    "": ("mlrun.datastore.filestore:FileStore", ""),
    "file": ("mlrun.datastore.filestore:FileStore", ""),
    "s3": ("mlrun.datastore.s3:S3Store", "s3"),
    "http": ("mlrun.datastore.http:HttpStore", "http"),
    "https": ("mlrun.datastore.http:HttpStore", "http"),
    "memory": ("mlrun.datastore.memory:MemoryStore", ""),
}
_entry_points_loaded = False


def register_store(scheme: str, store: str | type, extra: str = "") -> None:
    """Make ``scheme://`` URLs use ``store`` (a ``DataStore`` subclass or its ``"module:Class"`` path)."""
    _REGISTRY[scheme.lower()] = (store, extra)


def known_schemes() -> list[str]:
    _load_entry_points()
    return sorted(s for s in _REGISTRY if s)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="mlrun.datastores"):
        _REGISTRY.setdefault(ep.name.lower(), (ep.value, ""))


def split_url(url: str) -> tuple[str, str, str]:
    """``s3://bucket/key`` -> ("s3", "bucket", "/key"); a plain path -> ("", "", path)."""
    if "://" not in url:
        return "", "", url
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")  # not urlparse: '?' and '#' are plain characters in object keys
    return scheme.lower(), netloc, "/" + path


def _store_class(scheme: str) -> type:
    if scheme not in _REGISTRY:
        _load_entry_points()
    if scheme not in _REGISTRY:
        raise InvalidInputError(f"unknown data store scheme {scheme!r} (known: {', '.join(known_schemes())})")
    target, extra = _REGISTRY[scheme]
    target = load(target, f"the {scheme}:// data store", extra)
    _REGISTRY[scheme] = (target, extra)
    return target


def get_store(url: str, secrets: Mapping | None = None) -> DataStore:
    """The data store serving ``url``, configured with ``secrets`` (credentials) where it needs them."""
    scheme, netloc, _ = split_url(url)
    return _store_class(scheme)(netloc, secrets or {})


def get_item(url: str, secrets: Mapping | None = None, key: str = "",
             data_stores: Sequence[Mapping] | None = None) -> DataItem:
    """A handle on the object at ``url``; nothing is read until asked for.

    ``ds://NAME/path`` URLs resolve through ``data_stores`` (a run spec's named stores).
    """
    if not url:
        raise InvalidInputError("empty data URL")
    if url.startswith("ds://"):
        from .named import resolve

        url, secrets = resolve(url, data_stores, secrets)
    store = get_store(url, secrets)
    return DataItem(store, store.path_of(url), url, key=key)
