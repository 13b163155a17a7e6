"""Leftovers of writes that never finished, found and removed: what ``mlrun gc`` lists.

An orphan is one of:

* a temp file (``.mlrun-*.tmp``) under a local folder, whose writer died (a SIGKILL mid-write; a writer of this
  machine that is gone, or any older than ``older_than``);
* an incomplete multipart upload under an ``s3://`` place (a lost endpoint, a killed writer);
* a file or object under the place that no record of the run store points to (an artifact whose run never
  recorded it, an S3 store's summary or log of a run that is gone), older than ``older_than``.

``find_orphans`` only lists; ``remove_orphans`` removes what it is given.  The run store's own files (its
SQLite database, the records of an S3 store) are never orphans.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: what is not touched by default: leftovers younger than this may belong to a write in progress
DEFAULT_OLDER_THAN = 3600.0


@dataclass
class Orphan:
    """One leftover: where it is (a path or ``s3://`` URL), what it is, its size in bytes (-1: unknown)."""

    url: str
    kind: str
    size: int = -1
    remove: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    def __str__(self) -> str:
        size = f" ({self.size:,} bytes)" if self.size >= 0 else ""
        return f"{self.kind}: {self.url}{size}"


def find_orphans(places: Iterable[str] = (), rundb: str | None = None, older_than: float = DEFAULT_OLDER_THAN,
                 unreferenced: bool | None = None) -> list[Orphan]:
    """The orphans under ``places`` (local folders, ``s3://bucket/prefix``; default: the store's own folder or
    prefix), judged against the records of the run store ``rundb`` (default: ``$MLRUN_DBPATH``).

    Files and objects no record points to count only with ``unreferenced`` (default: in the store's own place
    only: a folder named here may hold files that were never mlrun's)."""
    from .config import default_dbpath
    from .rundb import get_run_db

    db = get_run_db(rundb or default_dbpath())
    places = list(places) or [_store_place(db)]
    referenced = _referenced(db) if unreferenced is not False else set()
    found: list[Orphan] = []
    for place in places:
        if place.startswith("s3://"):
            place = place.rstrip("/")
            own = unreferenced if unreferenced is not None else place == db.url.rstrip("/")
            found += _s3_orphans(place, db, referenced if own else None, older_than)
        else:
            folder = os.path.abspath(os.path.expanduser(place))
            own = unreferenced if unreferenced is not None else folder == getattr(db, "dirpath", None)
            found += _local_orphans(folder, db, referenced if own else None, older_than)
    return found


def remove_orphans(orphans: Iterable[Orphan]) -> list[str]:
    """Remove ``orphans``; the ones that could not be removed, each with why (one line each)."""
    failed = []
    for orphan in orphans:
        try:
            orphan.remove()
        except Exception as exc:  # noqa: BLE001 - go on with the others, say which failed
            failed.append(f"{orphan.url}: {' '.join(str(exc).split())}")
    return failed


def _store_place(db) -> str:
    from .errors import InvalidInputError

    place = getattr(db, "dirpath", None) or (db.url if db.url.lower().startswith("s3://") else None)
    if place is None:
        raise InvalidInputError(f"the run store {db!r} keeps no files of its own: name the folders or s3:// "
                                "prefixes to look in")
    return place


def _referenced(db) -> set[str]:
    """Every artifact location the store's records point to (local paths absolute)."""
    targets = set()
    for entry in db.list_artifacts():
        target = entry.get("target_path") or ""
        if target.startswith("file://"):
            target = target[len("file://"):]
        targets.add(target if "://" in target else os.path.abspath(target))
    return targets


def _local_orphans(folder: str, db, referenced: set[str] | None, older_than: float) -> list[Orphan]:
    from .datastore.base import dead_writer_temp

    store_files = os.path.join(getattr(db, "dirpath", "") or "\0", "runs.sqlite3")
    now, found = time.time(), []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            old = now - st.st_mtime > older_than
            if name.startswith(".mlrun-") and name.endswith(".tmp"):
                if dead_writer_temp(name) or old:
                    found.append(Orphan(path, "temp file of a writer that is gone", st.st_size,
                                        lambda p=path: os.unlink(p)))
            elif old and referenced is not None and path not in referenced and not path.startswith(store_files):
                found.append(Orphan(path, "file no record points to", st.st_size, lambda p=path: os.unlink(p)))
    return found


def _s3_orphans(place: str, db, referenced: set[str] | None, older_than: float) -> list[Orphan]:
    from .datastore import split_url
    from .datastore.s3 import S3Store

    _, bucket, prefix = split_url(place)
    store, prefix = S3Store(bucket), prefix.lstrip("/")
    client, now, found = store.client, time.time(), []
    with store._errors(prefix):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
            for upload in page.get("Uploads", ()):
                key, upload_id = upload["Key"], upload["UploadId"]
                if now - upload["Initiated"].timestamp() > older_than:
                    found.append(Orphan(f"s3://{bucket}/{key} (upload id {upload_id})", "incomplete multipart upload",
                                        -1, lambda k=key, u=upload_id: client.abort_multipart_upload(
                                            Bucket=bucket, Key=k, UploadId=u)))
        if referenced is None:
            return found
        own = _s3_store_keys(db, bucket)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                key = obj["Key"]
                url = f"s3://{bucket}/{key}"
                if url in referenced or now - obj["LastModified"].timestamp() <= older_than or own(key):
                    continue
                found.append(Orphan(url, "object no record points to", obj.get("Size", -1),
                                    lambda k=key: client.delete_object(Bucket=bucket, Key=k)))
    return found


def _s3_store_keys(db, bucket: str) -> Callable[[str], bool]:
    """Whether a key is a live part of the S3 run store ``db`` (a record, or the summary or log of a stored run)."""
    from .rundb.s3db import S3RunDB

    if not isinstance(db, S3RunDB) or db.store.bucket != bucket:
        return lambda key: False
    uids = {key.split("/")[-2] for key in db._objects("runs")}
    base = db._key("")

    def own(key: str) -> bool:
        parts = key[len(base):].lstrip("/").split("/") if key.startswith(base) else []
        return len(parts) >= 3 and parts[0] in ("runs", "summaries", "logs") and (
            parts[0] == "runs" or parts[1] in uids)

    return own
