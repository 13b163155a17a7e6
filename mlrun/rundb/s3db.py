"""Runs kept in S3: ``MLRUN_DBPATH=s3://bucket/prefix``.

One object per thing under the prefix, each written by a single whole-object PUT, so a reader
never sees half of one:

    runs/<uid>/<iteration>.json        the full record
    summaries/<uid>/<iteration>.json   what listings show (``RunRecord.summary()``), with the ETag
                                       of the record it was made from
    logs/<uid>/<time>-<random>.log     log chunks, joined in name order by ``read_log``

A commit writes the record, then its summary.  A writer killed between the two must not hide or
misstate the run, so listings start from the records: the record keys are listed (with their
ETags), the summaries read in parallel, and a summary that is missing or made from another
version of its record (a different ETag: timestamps are too coarse, two commits often fall in
the same second) is rebuilt from the record and written back.  Credentials and the endpoint come
from the environment: boto3's chain (``AWS_ACCESS_KEY_ID``, ``~/.aws``, roles) and
``S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL``) for S3-compatible servers.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..datastore import split_url
from ..datastore.s3 import S3Store
from ..errors import InvalidInputError, NotFoundError, StoreError
from ..model import RunRecord
from .base import RunDB, capped_log, checked_record, run_not_found, select_summaries

#: summaries fetched at once when listing
LIST_WORKERS = 16
#: in a summary object: the ETag of the record it was made from (never part of a listed summary)
_RECORD_ETAG = "_record_etag"


class S3RunDB(RunDB):
    def __init__(self, url: str):
        super().__init__(url)
        _, bucket, prefix = split_url(url)
        self.store = S3Store(bucket)  # no secrets: the environment's credentials
        self.prefix = prefix.strip("/")
        self._log_sizes: dict[str, int] = {}  # uid -> bytes its log holds, as this process wrote it

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _keys(self, *parts: str) -> list[str]:
        return list(self.store.list_keys(self._key(*parts) + "/"))

    def _get_json(self, key: str):
        return json.loads(self.store.get(key))

    def store_run_data(self, record: dict) -> None:
        uid = ((record.get("metadata") or {}) if isinstance(record, dict) else {}).get("uid")
        if not uid or not isinstance(uid, str) or "/" in uid:
            raise InvalidInputError(f"cannot store a run with uid {uid!r}")
        run, data = checked_record(record)
        name = f"{run.metadata.iteration}.json"
        # the record first: listings start from records, so a kill before the summary hides nothing
        etag = self._put(self._key("runs", uid, name), json.dumps(data).encode())
        self._put_summary(self._key("summaries", uid, name), run, etag)

    def _put(self, key: str, body: bytes) -> str:
        """Write one object whole; its ETag."""
        with self.store._errors(key):
            return self.store.client.put_object(Bucket=self.store.bucket, Key=key, Body=body)["ETag"]

    def _put_summary(self, key: str, run: RunRecord, record_etag: str) -> dict:
        summary = run.summary()
        self._put(key, json.dumps({**summary, _RECORD_ETAG: record_etag}).encode())
        return summary

    def check(self) -> None:
        with self.store._errors(self._key("runs")):
            self.store.client.list_objects_v2(Bucket=self.store.bucket, Prefix=self._key("runs") + "/", MaxKeys=1)

    def read_run_data(self, uid: str, iteration: int = 0) -> dict:
        try:
            return self._get_json(self._key("runs", uid, f"{iteration}.json"))
        except NotFoundError:
            raise run_not_found(uid, iteration, f" in {self.url}") from None

    def list_summaries(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None,
                       until=None, sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
        records = self._objects("runs")
        if not iterations:  # iterations are told by the object name: skip them unread
            records = {k: etag for k, etag in records.items() if k.endswith("/0.json")}
        with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
            summaries = [s for s in pool.map(self._summary_of, records.items()) if s is not None]
        return select_summaries(summaries, name=name, project=project, labels=labels, state=state, since=since,
                                until=until, sort=sort, desc=desc, limit=limit, offset=offset, iterations=iterations)

    def _objects(self, *parts: str) -> dict[str, str]:
        """Key -> ETag of every object under a folder of the store."""
        prefix = self._key(*parts) + "/"
        found = {}
        with self.store._errors(prefix):
            for page in self.store.client.get_paginator("list_objects_v2").paginate(Bucket=self.store.bucket,
                                                                                   Prefix=prefix):
                for obj in page.get("Contents", ()):
                    found[obj["Key"]] = obj.get("ETag", "")
        return found

    def _summary_of(self, item: tuple[str, str]) -> dict | None:
        """The summary of the record at ``key``: its summary object when made from this very record, else
        rebuilt from the record and written back (a commit cut short between its two writes)."""
        key, etag = item
        summary_key = self._key("summaries", key[len(self._key("runs")) + 1:])
        try:
            summary = self._get_json(summary_key)
            if etag and summary.pop(_RECORD_ETAG, None) == etag:
                return summary
        except (NotFoundError, ValueError):  # missing (or unreadable): repaired below
            pass
        try:
            with self.store._errors(key):
                answer = self.store.client.get_object(Bucket=self.store.bucket, Key=key)
                run = RunRecord.from_dict(json.loads(answer["Body"].read()))
        except NotFoundError:  # deleted while we listed
            return None
        try:
            return self._put_summary(summary_key, run, answer["ETag"])
        except StoreError:  # a store we may only read: list it all the same
            return run.summary()

    def del_run(self, uid: str) -> None:
        records = self._keys("runs", uid)
        if not records:
            raise run_not_found(uid, where=f" in {self.url}")
        # records first: listings start from them, so a kill midway leaves no half-deleted run listed
        self.store.delete_keys(records + self._keys("logs", uid))
        self.store.delete_keys(self._keys("summaries", uid))

    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        if not append:
            self.store.delete_keys(self._keys("logs", uid))
        stored = self._log_size(uid) if append else 0
        data = capped_log(data, stored)
        if len(self._log_sizes) >= 1024:
            self._log_sizes.clear()
        self._log_sizes[uid] = stored + len(data)
        if data:
            # S3 cannot append: each chunk is an object, named to sort in write order
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.log"
            self.store.put(self._key("logs", uid, name), bytes(data))

    def _log_size(self, uid: str) -> int:
        """The bytes the run's log holds: its chunks' sizes, listed once; then counted as this process appends
        (one launcher appends to a run's log)."""
        size = self._log_sizes.get(uid)
        if size is None:
            size = sum(self.store.stat(key).size for key in self._keys("logs", uid))
        return size

    def read_log(self, uid: str) -> bytes:
        keys = sorted(self._keys("logs", uid))
        if not keys and not self._keys("runs", uid):
            raise run_not_found(uid, where=f" in {self.url}")
        with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
            return b"".join(pool.map(self.store.get, keys))
