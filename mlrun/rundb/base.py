"""The one interface every run store implements (SQLite file, S3, HTTP server, ...).

Callers speak records: ``store_run(record, secrets)``, ``read_run(uid, iteration) -> RunRecord``,
``store_run_and_log``.  A back end implements the same verbs on the record as plain data (``*_data``:
the form it keeps, and the form the run server receives and serves), plus listings, deletion and logs.
Verbs: ``store_`` (create or replace), ``read_``, ``list_``/``count_``, ``del_``.
``tests/rundb_contract.py`` states the behaviour every back end shows.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..model import RunRecord
from .filters import SORT_FIELDS

if TYPE_CHECKING:
    from ..secrets import SecretsStore


def record_data(record: RunRecord, secrets: SecretsStore | None = None) -> dict:
    """``record`` as the plain data a store keeps: every value of ``secrets`` hidden (one pass, no copy before)."""
    data = record.to_dict(copy=False)
    return secrets.mask_record(data) if secrets is not None else data


def run_not_found(uid: str, iteration: int = 0, where: str = ""):
    """The error every store raises for a run (or an iteration of it) it does not hold."""
    from ..errors import NotFoundError

    return NotFoundError(f"run {uid} not found" + (f" (iteration {iteration})" if iteration else "") + where)


class RunDB(ABC):
    """Stores run records and their logs.

    Records are keyed by ``uid`` (and ``iteration`` for hyper-parameter children).  Writes must be
    atomic: a reader never sees half a record.  Stored data is validated as a ``RunRecord``
    (``InvalidSpecError`` naming the field), and a record without a uid is refused.
    """

    def __init__(self, url: str):
        self.url = url

    # -- records ------------------------------------------------------------------------------
    def store_run(self, record: RunRecord, secrets: SecretsStore | None = None) -> None:
        """Create or replace the record of ``record.uid`` (and iteration), the values of ``secrets`` hidden."""
        self.store_run_data(record_data(record, secrets))

    def read_run(self, uid: str, iteration: int = 0) -> RunRecord:
        """The full record; ``NotFoundError`` when there is none."""
        return RunRecord.from_dict(self.read_run_data(uid, iteration))  # text that would not encode, escaped

    def store_run_and_log(self, record: RunRecord, log: bytes, secrets: SecretsStore | None = None) -> None:
        """Store a finished run's record and its whole log (replacing any log it had), ``secrets`` hidden."""
        self.store_run_data_and_log(record_data(record, secrets), log)

    # -- what back ends implement -----------------------------------------------------------------
    @abstractmethod
    def store_run_data(self, data: dict) -> None:
        """Create or replace the record ``data`` (``RunRecord.to_dict()`` form), validated first."""

    @abstractmethod
    def read_run_data(self, uid: str, iteration: int = 0) -> dict:
        """The record as stored (plain data, not validated again); ``NotFoundError`` when there is none."""

    def store_run_data_and_log(self, data: dict, log: bytes) -> None:
        """``store_run_data`` and the whole log; back ends that can write both at once override this
        (one write per run instead of two)."""
        self.store_run_data(data)
        self.store_log(data["metadata"]["uid"], log, append=False)

    @abstractmethod
    def list_runs(
        self,
        name: str | None = None,
        project: str | None = None,
        labels: Mapping[str, str] | None = None,
        state: str | None = None,
        since: str | None = None,
        until: str | None = None,
        sort: str = "start_time",
        desc: bool = True,
        limit: int | None = None,
        offset: int = 0,
        iterations: bool = False,
    ) -> list[dict]:
        """Run summaries (``RunRecord.summary()``) matching every filter given.

        ``labels`` match exactly (a value of ``None`` means "has the label"); ``since``/``until``
        bound ``start_time`` (ISO-8601); ``iterations`` includes hyper-parameter children.
        """

    @abstractmethod
    def del_run(self, uid: str) -> None:
        """Delete a run, its iterations and its log; ``NotFoundError`` when there is none."""

    # -- logs -------------------------------------------------------------------------------------
    @abstractmethod
    def store_log(self, uid: str, data: bytes, append: bool = True) -> None:
        """Append ``data`` to the run's log (or replace it, ``append=False``)."""

    @abstractmethod
    def read_log(self, uid: str) -> bytes:
        """The run's log (empty when it logged nothing); ``NotFoundError`` for an unknown run."""

    def get_log(self, uid: str) -> bytes:
        """``read_log``, by its MLRun 1.x name."""
        return self.read_log(uid)

    def count_runs(self, **filters) -> int:
        return len(self.list_runs(**filters))

    def search_runs(self, filter: str | None = None, sort: str = "start_time", desc: bool = True,
                    limit: int | None = None, offset: int = 0, **filters) -> tuple[list[dict], int]:
        """One page of the summaries matching ``filters`` (as ``list_runs`` takes them) and the filter
        expression ``filter`` (``filters.parse``), sorted by a listing field or by ``outputs.KEY`` /
        ``parameters.KEY``; with the number of runs matching.

        This default reads every summary ``list_runs`` gives and filters in Python: right for stores
        without a query engine; SQL stores override it to push the filter down.
        """
        from .search import search_in_python

        return search_in_python(self, filter, sort, desc, limit, offset, filters)

    def close(self) -> None:  # noqa: B027 - optional: most implementations have nothing to do
        """Release connections; the store stays usable (it reconnects on demand)."""


def select_summaries(summaries, name=None, project=None, labels=None, state=None, since=None, until=None,
                     sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
    """Filter, sort and page run summaries in memory: for back ends without a query engine."""
    check_sort(sort)

    def wanted(s: dict) -> bool:
        return ((iterations or not s.get("iteration"))
                and (name is None or s["name"] == name)
                and (project is None or s["project"] == project)
                and (state is None or s["state"] == state)
                and (since is None or s["start_time"] >= since)
                and (until is None or s["start_time"] <= until)
                and all(k in s["labels"] and (v is None or s["labels"][k] == v) for k, v in (labels or {}).items()))

    selected = sorted((s for s in summaries if wanted(s)), key=lambda s: (s[sort], s["uid"]), reverse=desc)
    return selected[offset: None if limit is None else offset + limit]


def check_sort(sort: str) -> None:
    from ..errors import InvalidInputError

    if sort not in SORT_FIELDS:
        raise InvalidInputError(f"cannot sort runs by {sort!r} (expected one of: {', '.join(SORT_FIELDS)})")
