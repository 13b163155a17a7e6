"""Runs kept in S3: ``MLRUN_DBPATH=s3://bucket/prefix``.

One object per thing under the prefix, each written by a single whole-object PUT, so a reader
never sees half of one:

    runs/<uid>/<iteration>.json        the full record
    summaries/<uid>/<iteration>.json   what listings show (``RunRecord.summary()``)
    logs/<uid>/<time>-<random>.log     log chunks, joined in name order by ``get_log``

Listing reads the small summary objects (in parallel) and filters them in memory.  Credentials
and the endpoint come from the environment: boto3's chain (``AWS_ACCESS_KEY_ID``, ``~/.aws``,
roles) and ``S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL``) for S3-compatible servers.
"""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

from ..datastore import split_url
from ..datastore.s3 import S3Store
from ..errors import InvalidInputError, NotFoundError
from ..model import RunRecord
from .base import RunDB, select_summaries

#: summaries fetched at once when listing
LIST_WORKERS = 16


class S3RunDB(RunDB):
    def __init__(self, url: str):
        super().__init__(url)
        _, bucket, prefix = split_url(url)
        self.store = S3Store(bucket)  # no secrets: the environment's credentials
        self.prefix = prefix.strip("/")

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _keys(self, *parts: str) -> list[str]:
        return list(self.store.list_keys(self._key(*parts) + "/"))

    def _get_json(self, key: str):
        return json.loads(self.store.get(key))

    def store_run(self, record: dict) -> None:
        run = RunRecord.from_dict(record)
        uid = run.metadata.uid
        if not uid or "/" in uid:
            raise InvalidInputError(f"cannot store a run with uid {uid!r}")
        name = f"{run.metadata.iteration}.json"
        data = record if isinstance(record, dict) else run.to_dict()
        # the record first: a listed summary always has a record behind it
        self.store.put(self._key("runs", uid, name), json.dumps(data).encode())
        self.store.put(self._key("summaries", uid, name), json.dumps(run.summary()).encode())

    def read_run(self, uid: str, iteration: int = 0) -> dict:
        try:
            return self._get_json(self._key("runs", uid, f"{iteration}.json"))
        except NotFoundError:
            raise NotFoundError(f"run {uid} not found" + (f" (iteration {iteration})" if iteration else "")
                                + f" in {self.url}") from None

    def list_runs(self, name=None, project=None, labels: Mapping | None = None, state=None, since=None, until=None,
                  sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
        keys = self._keys("summaries")
        if not iterations:  # iterations are told by the object name: skip them unread
            keys = [k for k in keys if k.endswith("/0.json")]
        with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
            summaries = [s for s in pool.map(self._read_summary, keys) if s is not None]
        return select_summaries(summaries, name=name, project=project, labels=labels, state=state, since=since,
                                until=until, sort=sort, desc=desc, limit=limit, offset=offset, iterations=iterations)

    def _read_summary(self, key: str) -> dict | None:
        try:
            return self._get_json(key)
        except NotFoundError:  # deleted while we listed
            return None

    def del_run(self, uid: str) -> None:
        records = self._keys("runs", uid)
        if not records:
            raise NotFoundError(f"run {uid} not found in {self.url}")
        # summaries first, so a listing never shows a run whose record is gone
        self.store.delete_keys(self._keys("summaries", uid))
        self.store.delete_keys(records + self._keys("logs", uid))

    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        if not append:
            self.store.delete_keys(self._keys("logs", uid))
        if data:
            # S3 cannot append: each chunk is an object, named to sort in write order
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.log"
            self.store.put(self._key("logs", uid, name), bytes(data))

    def get_log(self, uid: str) -> bytes:
        keys = sorted(self._keys("logs", uid))
        if not keys and not self._keys("runs", uid):
            raise NotFoundError(f"run {uid} not found in {self.url}")
        with ThreadPoolExecutor(max_workers=LIST_WORKERS) as pool:
            return b"".join(pool.map(self.store.get, keys))
