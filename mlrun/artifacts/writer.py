"""Writing an artifact of a run: key checks, where it goes, hashing and the record's entry.

Used by ``RunContext.log_artifact`` and by a sweep writing its results table into the parent run.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from ..config import default_out_path
from ..errors import AccessDeniedError, InvalidInputError, NotFoundError, StoreError
from ..model import RunRecord
from ..secrets import SecretsStore
from .base import Artifact, check_viewer

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from ..policy import AccessPolicy


def output_path(record: RunRecord, policy: AccessPolicy | None = None) -> str:
    """Where a run's artifacts go by default: its output path, else the working directory (made absolute).

    A run that came over the network writes under the function's output path: its own may only name a
    sub-path of it (``AccessPolicy.output_path``).
    """
    requested = record.spec.default_output_path
    if policy is not None:
        return policy.output_path(requested)
    from ..policy import absolute

    return absolute(requested or default_out_path() or os.getcwd())


def log_artifact(record: RunRecord, item: str | Artifact, body: bytes | str | None = None,
                 local_path: str | None = None, target_path: str | None = None, description: str = "",
                 labels: Mapping | None = None, format: str | None = None, secrets: SecretsStore | None = None,
                 policy: AccessPolicy | None = None, viewer: str | None = None, upload: bool = True,
                 tag: str = "") -> dict:
    """Store a file, a body or a typed artifact (``item``: a key or an ``Artifact``) as an artifact of the run
    ``record`` and record where it went (see ``RunContext.log_artifact``); remote stores are opened with
    ``secrets``, within ``policy``.  ``upload=False`` records a reference to the data where it is.
    The entry names the artifact by its ``store://`` URI (``uri``), with ``tag`` (default ``latest``)."""
    artifact = as_artifact(item, body=body, local_path=local_path, target_path=target_path, description=description,
                           labels=labels, format=format, viewer=viewer)
    key, secrets = artifact.key, secrets or SecretsStore()
    check_key(key)
    check_tag(tag)
    if artifact.streamed and not upload:
        raise InvalidInputError(f"artifact {key!r}: a {type(artifact).__name__} is written by mlrun: upload=False "
                                "records a file that exists (log it by its key or path)")
    data = None if artifact.streamed else artifact.get_body()
    if artifact.rendered and isinstance(data, str):
        data = secrets.mask(data)  # mlrun wrote this body from the caller's values: hidden like any value it writes
    if upload:
        try:
            url, size, digest = _store(record, artifact, data, secrets, policy)
        except StoreError as exc:  # a full disk, a lost endpoint: which artifact, where (the store's error names it)
            raise type(exc)(f"artifact {key!r}: {exc}") from None
    else:
        url, size, digest = _reference(artifact, data, policy)
    entry = {
        "key": key,
        "kind": artifact.kind,
        "viewer": artifact.viewer,
        "description": artifact.description,
        "target_path": url,
        **({"size": size, "sha256": digest} if digest else {}),
        "format": artifact.format,
        "labels": dict(artifact.labels),
        "producer": {"name": record.shown_name(), "uid": record.metadata.uid},
        "sources": [{"key": i["key"], "path": i["path"]} for i in record.spec.input_objects],
        **({"tag": tag} if tag else {}),
        "uri": artifact_uri(record, artifact.kind, key, tag),
        **artifact.entry_fields(),
    }
    artifacts = record.status.output_artifacts
    artifacts[:] = [a for a in artifacts if a.get("key") != key]
    artifacts.append(entry)
    return entry


def as_artifact(item: str | Artifact, **given) -> Artifact:
    """``item`` as an ``Artifact``: a key becomes a plain one; the arguments given (not ``None``, not empty)
    override an artifact's own."""
    if not isinstance(item, Artifact):
        return Artifact(item, **given)
    if type(item).get_body is not Artifact.get_body and (given.get("body") is not None or given.get("local_path")):
        raise InvalidInputError(f"artifact {item.key!r}: a {type(item).__name__} renders its own body: "
                                "give no body or local_path")
    import copy

    item = copy.copy(item)  # the caller's object stays as it was: it may be logged again elsewhere
    for name, value in given.items():
        if value is not None and value != "" and value != {}:
            setattr(item, name, check_viewer(value) if name == "viewer" else dict(value) if name == "labels" else value)
    return item


def _store(record: RunRecord, artifact: Artifact, data: bytes | str | None, secrets: SecretsStore,
           policy: AccessPolicy | None) -> tuple[str, int, str]:
    """Copy the body (or the local file) to the artifact's target: its URL, size and sha256."""
    from ..datastore import get_item

    item = get_item(target_of(record, artifact.key, artifact.target_path, policy, artifact.file_name()),
                    secrets=secrets.items(),
                    data_stores=record.spec.data_stores, policy=policy, action="write")
    if artifact.streamed:
        with item.open("wb") as target, HashingStream(target) as stream:
            artifact.write_body(stream)
        return item.url, stream.size, stream.hexdigest
    if data is not None:
        import hashlib

        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        item.put(data)
        return item.url, len(data), hashlib.sha256(data).hexdigest()  # a named store (ds://) resolved
    source = artifact.local_path or artifact.key
    if not os.path.isfile(source):
        raise NotFoundError(f"artifact {artifact.key!r}: local file not found: {source}")
    digest, size = file_sha256(source)
    item.upload(source)
    return item.url, size, digest


def _reference(artifact: Artifact, data: bytes | str | None, policy: AccessPolicy | None) -> tuple[str, int, str]:
    """An artifact left where it is (``upload=False``): ``target_path``, else ``local_path``, else the key, as given
    (a local path made absolute); a local file is hashed like a copied one, a remote one is recorded as named."""
    from ..policy import absolute, is_local

    if data is not None:
        raise InvalidInputError(f"artifact {artifact.key!r}: upload=False records a reference to data that exists: "
                                "give local_path or target_path, not a body")
    url = absolute(artifact.target_path or artifact.local_path or artifact.key)
    if policy is not None:
        policy.check(url, "read")
    if not is_local(url):
        return url, 0, ""
    path = url[len("file://"):] if url.startswith("file://") else url
    if not os.path.isfile(path):
        raise NotFoundError(f"artifact {artifact.key!r}: referenced file not found: {path}")
    digest, size = file_sha256(path)
    return url, size, digest


def target_of(record: RunRecord, key: str, target_path: str | None, policy: AccessPolicy | None,
              file_name: str = "") -> str:
    """The artifact's target: ``target_path``, else the ``-o`` target given for ``key``, else
    ``<output path>/<file_name or key>`` (which must stay inside the output path, symlinks followed); local
    targets absolute."""
    from ..datastore import join_url
    from ..policy import absolute

    check_key(key)
    target = target_path or {o["key"]: o["path"] for o in record.spec.output_artifacts}.get(key)
    if not target:
        out_path = output_path(record, policy)
        target = join_url(out_path, file_name or key)
        check_inside(out_path, target, key)
    return absolute(target)


def artifact_uri(record: RunRecord, kind: str, key: str, tag: str = "") -> str:
    """The ``store://`` URI of the artifact ``key`` this run logs, pinned to the run (``@uid``)."""
    from ..rundb.artifactstore import store_uri

    return store_uri(kind, record.metadata.project, key, record.metadata.iteration, tag, record.metadata.uid)


def check_tag(tag: str) -> None:
    """A tag is a word of letters, digits, ``-``, ``_`` and ``.`` (it ends a ``store://`` URI after a ``:``)."""
    import re

    if not isinstance(tag, str) or (tag and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", tag)):
        raise InvalidInputError(f"artifact tag {tag!r} must be letters, digits, '_', '-' or '.' (at most 64)")


def check_key(key: str) -> None:
    """An artifact key is a relative path naming a file inside the output path."""
    if not key or not isinstance(key, str):
        raise InvalidInputError("artifact key must be a non-empty string")
    parts = key.replace("\\", "/").split("/")
    if key.startswith(("/", "\\")) or os.path.isabs(key) or ".." in parts or "://" in key:
        raise InvalidInputError(f"artifact key {key!r} must be a relative path inside the output path")
    if parts[-1] in ("", "."):
        raise InvalidInputError(f"artifact key {key!r} names a folder: it must name a file inside the output path")


def check_inside(out_path: str, target: str, key: str) -> None:
    """A local artifact lands inside the output path: a symlink in it may not lead the key elsewhere."""
    from ..policy import AccessPolicy, is_local

    if is_local(out_path) and not AccessPolicy([out_path]).allows(target, "write"):
        raise AccessDeniedError(f"artifact key {key!r} leads outside the output path through a symlink")


class HashingStream:
    """A binary stream passing what is written to ``target`` while counting it and hashing it (sha256) in a
    thread of its own (hashlib lets go of the interpreter lock: the hash costs next to no time when a core is
    free).  The chunks reach that thread a batch of ``BATCH`` bytes at a time: each hand-over between threads
    costs more than hashing one small chunk, and a waiting writer (pyarrow's, calling back into Python) would
    pay it.  At most ``QUEUED`` batches wait, so a hash falling behind holds little memory.
    Used as a context manager: ``hexdigest`` is set when the block ends."""

    BATCH, QUEUED = 1 << 20, 8

    def __init__(self, target):
        import hashlib
        import queue
        import threading

        self.target, self.digest, self.size, self.closed, self.hexdigest = target, hashlib.sha256(), 0, False, ""
        self._batch: list[bytes] = []
        self._batched = 0
        self._batches: queue.Queue[list[bytes] | None] = queue.Queue(self.QUEUED)
        self._hasher = threading.Thread(target=self._hash, name="sha256", daemon=True)
        self._hasher.start()

    def _hash(self) -> None:
        while (batch := self._batches.get()) is not None:  # in the order written
            for chunk in batch:
                self.digest.update(chunk)

    def write(self, data) -> int:
        chunk = bytes(data)  # kept until hashed: the writer may reuse its buffer once this returns (bytes: no copy)
        self.target.write(chunk)
        self.size += len(chunk)
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= self.BATCH:
            self._batches.put(self._batch)
            self._batch, self._batched = [], 0
        return len(chunk)

    def __enter__(self) -> HashingStream:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._batches.put(self._batch if exc_type is None else [])  # a failed write's hash is of no use
        self._batches.put(None)
        self._hasher.join()
        self.closed = True
        self.hexdigest = self.digest.hexdigest() if exc_type is None else ""

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass


def file_sha256(path: str) -> tuple[str, int]:
    """The sha256 (hex) and size of a local file, read in chunks."""
    import hashlib

    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fp:
        while chunk := fp.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
