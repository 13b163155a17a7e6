"""Writing an artifact of a run: key checks, where it goes, hashing and the record's entry.

Used by ``RunContext.log_artifact`` and by a sweep writing its results table into the parent run.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from .config import default_out_path
from .errors import AccessDeniedError, InvalidInputError, NotFoundError
from .model import RunRecord
from .secrets import SecretsStore

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from .policy import AccessPolicy


def output_path(record: RunRecord, policy: AccessPolicy | None = None) -> str:
    """Where a run's artifacts go by default: its output path, else the working directory (made absolute).

    A run that came over the network writes under the function's output path: its own may only name a
    sub-path of it (``AccessPolicy.output_path``).
    """
    requested = record.spec.default_output_path
    if policy is not None:
        return policy.output_path(requested)
    from .policy import absolute

    return absolute(requested or default_out_path() or os.getcwd())


def log_artifact(record: RunRecord, key: str, body: bytes | str | None = None, local_path: str | None = None,
                 target_path: str | None = None, description: str = "", labels: Mapping | None = None,
                 format: str | None = None, secrets: SecretsStore | None = None,
                 policy: AccessPolicy | None = None) -> dict:
    """Store a file or a body as an artifact of the run ``record`` and record where it went (see
    ``RunContext.log_artifact``); remote stores are opened with ``secrets``, within ``policy``."""
    from .datastore import get_item

    item = get_item(target_of(record, key, target_path, policy), secrets=(secrets or SecretsStore()).items(),
                    data_stores=record.spec.data_stores, policy=policy, action="write")
    if body is not None:
        import hashlib

        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
        item.put(data)
    else:
        source = local_path or key
        if not os.path.isfile(source):
            raise NotFoundError(f"artifact {key!r}: local file not found: {source}")
        digest, size = file_sha256(source)
        item.upload(source)
    artifact = {
        "key": key,
        "description": description,
        "target_path": item.url,  # a named store (ds://) resolved: where the data really is
        "size": size,
        "sha256": digest,
        "format": format or os.path.splitext(key)[1].lstrip(".").lower(),
        "labels": dict(labels or {}),
        "producer": {"name": record.metadata.name, "uid": record.metadata.uid},
        "sources": [{"key": i["key"], "path": i["path"]} for i in record.spec.input_objects],
    }
    artifacts = record.status.output_artifacts
    artifacts[:] = [a for a in artifacts if a.get("key") != key]
    artifacts.append(artifact)
    return artifact


def target_of(record: RunRecord, key: str, target_path: str | None, policy: AccessPolicy | None) -> str:
    """The artifact's target: ``target_path``, else the ``-o`` target given for ``key``, else
    ``<output path>/<key>`` (which must stay inside the output path, symlinks followed); local targets absolute."""
    from .datastore import join_url
    from .policy import absolute

    check_key(key)
    target = target_path or {o["key"]: o["path"] for o in record.spec.output_artifacts}.get(key)
    if not target:
        out_path = output_path(record, policy)
        target = join_url(out_path, key)
        check_inside(out_path, target, key)
    return absolute(target)


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
    from .policy import AccessPolicy, is_local

    if is_local(out_path) and not AccessPolicy([out_path]).allows(target, "write"):
        raise AccessDeniedError(f"artifact key {key!r} leads outside the output path through a symlink")


def file_sha256(path: str) -> tuple[str, int]:
    """The sha256 (hex) and size of a local file, read in chunks."""
    import hashlib

    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fp:
        while chunk := fp.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
