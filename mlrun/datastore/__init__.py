"""Data stores keyed by URL scheme.

``get_item(url)`` returns a ``DataItem`` whatever the URL: a local path, ``file://``, ``s3://``,
``http(s)://``, ``memory://`` or an artifact's ``store://`` URI (``rundb.artifactstore``).
The registry maps a scheme to a dotted class path, imported on first use, so ``import mlrun`` never pays
for boto3 or requests.  Third parties add schemes with ``register_store("myscheme", MyStore)`` or through
the ``mlrun.datastores`` entry-point group.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import AccessDeniedError, InvalidInputError
from ..registry import Registry
from .base import DataItem, DataStore, FileStat, join_url, split_url

if TYPE_CHECKING:
    from ..policy import AccessPolicy

__all__ = ["DataItem", "DataStore", "FileStat", "get_item", "get_dataitem", "get_store", "register_store",
           "known_schemes", "join_url", "split_url", "set_in_memory_item"]

#: scheme -> (store class or "module:Class", pip extra that provides its dependencies)
STORES = Registry("the {name}:// data store", "mlrun.datastores", {
    ("", "file"): ("mlrun.datastore.filestore:FileStore", ""),
    "s3": ("mlrun.datastore.s3:S3Store", "s3"),
    ("http", "https"): ("mlrun.datastore.http:HttpStore", "http"),
    "memory": ("mlrun.datastore.memory:MemoryStore", ""),
    "store": ("mlrun.rundb.artifactstore:ArtifactStore", ""),
})


def register_store(scheme: str, store: str | type, extra: str = "") -> None:
    """Make ``scheme://`` URLs use ``store`` (a ``DataStore`` subclass or its ``"module:Class"`` path)."""
    STORES.register(scheme, store, extra)


def known_schemes() -> list[str]:
    return [s for s in STORES.names() if s]


def _store_class(scheme: str) -> type:
    if scheme not in STORES:
        raise InvalidInputError(f"unknown data store scheme {scheme!r} (known: {', '.join(known_schemes())})")
    return STORES.get(scheme)


def get_store(url: str, secrets: Mapping | None = None) -> DataStore:
    """The data store serving ``url``, configured with ``secrets`` (credentials) where it needs them."""
    scheme, netloc, _ = split_url(url)
    return _store_class(scheme)(netloc, secrets or {})


def set_in_memory_item(key: str, value: bytes | str) -> DataItem:
    """Keep ``value`` in this process as ``memory://KEY`` (MLRun 1.x's name): an input a run can read; its data item."""
    item = get_item(f"memory://{key}")
    item.put(value)
    return item


def get_item(url: str, secrets: Mapping | None = None, key: str = "",
             data_stores: Sequence[Mapping] | None = None, policy: AccessPolicy | None = None,
             action: str = "read", rundb=None) -> DataItem:
    """A handle on the object at ``url``; nothing is read until asked for.

    A ``store://`` URI is resolved through the run store ``rundb`` (``None``: the default one) to the file
    the artifact was stored at; the item reads that file and carries the artifact entry (``.meta``).

    ``ds://NAME/path`` URLs resolve through ``data_stores`` (a run spec's named stores).  With a
    ``policy`` (a run that came over the network) the real URL must be allowed for ``action``
    ("read" or "write") before the handle exists; writing through a handle taken for reading is
    checked again, and an HTTP store checks every redirect it follows.
    """
    if not url:
        raise InvalidInputError("empty data URL")
    if url.startswith("store://"):  # an artifact's URI: the file its entry names, read through the run store
        if action == "write":
            raise InvalidInputError(f"cannot write to {url}: a store:// artifact is written by logging it")
        store = get_store(url, secrets)
        store.rundb = rundb
        entry = store.resolve(url)
        item = get_item(entry["target_path"], secrets, key, data_stores, policy, action)
        item.meta, item.artifact_url = entry, url
        return item
    request_secrets = None
    if url.startswith("ds://"):
        from .named import resolve

        named = url
        url, secrets = resolve(url, data_stores, secrets)
        if policy is not None and policy.request_secrets is not None:  # the request's own, as this store sees them
            request_secrets = resolve(named, data_stores, policy.request_secrets)[1]
    if policy is not None:
        policy.check(url, action, request_secrets)
    store = get_store(url, secrets)
    if policy is None or policy.allow_any:
        return DataItem(store, store.path_of(url), url, key=key)
    if split_url(url)[0] in ("http", "https"):
        if not hasattr(store, "url_check"):  # no way to see where redirects lead: refuse rather than follow blindly
            raise AccessDeniedError(f"not allowed to read {url}: this HTTP data store cannot check redirects")
        store.url_check = functools.partial(policy.check, action="read")
    if action == "write":  # what may be written may be read
        return DataItem(store, store.path_of(url), url, key=key)
    return _PolicedItem(store, store.path_of(url), url, key=key, policy=policy, secrets=request_secrets)


def get_dataitem(url: str, secrets: Mapping | None = None, rundb=None) -> DataItem:
    """A data item for ``url`` (any scheme, ``store://`` URIs included), opened with ``secrets``: ``.get()``,
    ``.local()``, ``.as_df()``, ``.show()``, ``.meta`` (the artifact behind a ``store://`` URI)."""
    return get_item(url, secrets=secrets, rundb=rundb)


class _PolicedItem(DataItem):
    """A served run's data item: writing is checked too, for a handle taken to read an input."""

    def __init__(self, store: DataStore, path: str, url: str, key: str, policy: AccessPolicy,
                 secrets: Mapping | None):
        super().__init__(store, path, url, key=key)
        self._policy, self._request_secrets = policy, secrets

    def _check_write(self) -> None:
        self._policy.check(self.url, "write", self._request_secrets)

    def open(self, mode: str = "rb"):
        if "w" in mode:
            self._check_write()
        return super().open(mode)

    def put(self, data: bytes | str) -> None:
        self._check_write()
        super().put(data)

    def upload(self, local_path: str) -> None:
        self._check_write()
        super().upload(local_path)

    def delete(self) -> None:
        self._check_write()
        super().delete()
