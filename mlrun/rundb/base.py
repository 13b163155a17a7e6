"""The one interface every run store implements (SQLite file, S3, HTTP server, ...).

Callers speak records: ``store_run(record, secrets)``, ``read_run(uid, iteration) -> RunRecord``,
``store_run_and_log``.  A back end implements the same verbs on the record as plain data (``*_data``:
the form it keeps, and the form the run server receives and serves), plus listings, deletion and logs.
Verbs: ``store_`` (create or replace), ``read_``, ``list_``/``count_``, ``del_``.
``tests/rundb_contract.py`` states the behaviour every back end shows.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping

from ..errors import NotFoundError
from ..model import RunRecord

#: the most runs or artifacts one listing returns
MAX_LISTED = 1_000_000
_LARGEST = 1.7976931348623157e308  # sys.float_info.max
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a run's commit loads this module)
if TYPE_CHECKING:
    from ..secrets import SecretsStore
    from .lists import ArtifactList, RunList


_caller = None  # thread-local: when the caller a server serves stops waiting (``set_caller_deadline``)


def set_caller_deadline(until: float | None) -> None:
    """From now on, calls of this thread to a store that honours it (PostgreSQL) end by ``until`` (``time.time()``
    seconds; ``None``: no such bound): a run server passes on the deadline its client sent with a request."""
    global _caller
    if _caller is None:
        from _thread import _local

        _caller = _local()
    _caller.until = until


def caller_deadline() -> float | None:
    """The deadline ``caller_deadline_at`` set for this thread, if any."""
    return None if _caller is None else getattr(_caller, "until", None)


def record_data(record: RunRecord, secrets: SecretsStore | None = None) -> dict:
    """``record`` as the plain data a store keeps: every value of ``secrets`` hidden (one pass, no copy before)."""
    data = record.to_dict(copy=False)
    return secrets.mask_record(data) if secrets is not None else data


def record_of_row(row, uid: str, iteration: int = 0) -> dict:
    """The record a ``SELECT record ... WHERE uid, iteration`` found; ``run_not_found`` when it found none."""
    if row is None:
        raise run_not_found(uid, iteration)
    import json

    return json.loads(row[0])


def checked_record(data: dict) -> tuple[RunRecord, dict]:
    """``data`` validated as a ``RunRecord``, its times as UTC text (``model.utc_times``): the record, and the data
    a store keeps.  A record without a uid is refused."""
    from ..model import utc_times

    data = utc_times(data)
    run = RunRecord.from_dict(data, copy=False)  # validates; nothing is modified
    if not run.metadata.uid:
        from ..errors import StoreError

        raise StoreError("cannot store a run without metadata.uid")
    return run, data


def indexed_values(summary: dict) -> tuple[list[tuple], list[tuple]]:
    """What SQL stores index of a run summary: ``(kind, key, value)`` of each finite number among its outputs
    (kind ``o``) and parameters (``p``), and ``(key, text)`` of each label (``None`` for a value that is not text)."""
    numbers = [(kind[0], key, float(value)) for kind in ("outputs", "parameters")
               for key, value in summary[kind].items()
               if value.__class__ in (int, float) and -_LARGEST <= value <= _LARGEST]  # not NaN, inf or past a float
    labels = [(key, value if value.__class__ is str else None) for key, value in summary["labels"].items()]
    return numbers, labels


def run_not_found(uid: str, iteration: int = 0, where: str = ""):
    """The error every store raises for a run (or an iteration of it) it does not hold."""
    return NotFoundError(f"run {uid} not found" + (f" (iteration {iteration})" if iteration else "") + where)


class RunDB(ABC):
    """Stores run records and their logs.

    Records are keyed by ``uid`` (and ``iteration`` for hyper-parameter children).  Writes must be
    atomic: a reader never sees half a record.  Stored data is validated as a ``RunRecord``
    (``InvalidSpecError`` naming the field), and a record without a uid is refused.
    """

    def __init__(self, url: str):
        self.url = url

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a store written against the earlier interface implemented list_runs(name, ..., iterations): that is
        # what list_summaries is now, and the public list_runs (which takes those keywords too) calls it
        if "list_runs" in cls.__dict__ and not any("list_summaries" in c.__dict__ for c in cls.__mro__[:-1]
                                                   if c is not RunDB):
            cls.list_summaries, cls.list_runs = cls.__dict__["list_runs"], RunDB.list_runs

    # -- records ------------------------------------------------------------------------------
    def store_run(self, record: RunRecord, secrets: SecretsStore | None = None) -> None:
        """Create or replace the record of ``record.uid`` (and iteration), the values of ``secrets`` hidden."""
        self.store_run_data(record_data(record, secrets))

    def read_run(self, uid: str, iteration: int = 0) -> RunRecord:
        """The full record; ``NotFoundError`` when there is none."""
        from .liveness import mark_if_gone

        # text that would not encode, escaped; a run whose process is gone is recorded so first
        return RunRecord.from_dict(mark_if_gone(self, self.read_run_data(uid, iteration)))

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
    def list_summaries(
        self,
        name: str | None = None,
        project: str | None = None,
        labels: Mapping[str, str | None] | None = None,
        state: str | None = None,
        since: str | None = None,
        until: str | None = None,
        sort: str = "start_time",
        desc: bool = True,
        limit: int | None = None,
        offset: int = 0,
        iterations: bool = False,
    ) -> list[dict]:
        """Run summaries (``RunRecord.summary()``) matching every filter given (what ``list_runs`` reads).

        ``labels`` match exactly (a value of ``None`` means "has the label"); ``since``/``until``
        bound ``start_time`` (ISO-8601); ``iterations`` includes hyper-parameter children.
        """

    def list_runs(self, name: str = "", project: str = "", labels=None, state: str = "", sort: bool | str = True,
                  last: int = 0, iter: bool = False, *, since: str | None = None, until: str | None = None,
                  desc: bool = True, limit: int | None = None, offset: int = 0, iterations: bool = False) -> RunList:
        """Run summaries as a ``RunList`` (``.show()``), in the seed system's terms.

        ``labels``: ``"k=v"``, ``["k=v", "k"]`` or ``{k: v}`` (``k`` alone or a value of ``None``: has the
        label); ``sort=True`` newest first, ``False`` oldest first, or the name of a field (``SORT_FIELDS``,
        ordered by ``desc``); ``last=N`` the N newest (as ``limit``); ``iter=True`` (``iterations``)
        includes hyper-parameter iterations.  Empty texts filter nothing.
        """
        from ..model import parse_time
        from .lists import RunList

        check_count(last, "last")
        # bounds as UTC text, as stores keep times: compared as instants
        since, until = (None if t is None else parse_time(t, n) for t, n in ((since, "since"), (until, "until")))
        field = sort if isinstance(sort, str) else "start_time"
        runs = self.list_summaries(name=name or None, project=project or None, labels=parse_labels(labels),
                                   state=state or None, since=since, until=until, sort=field,
                                   desc=desc if isinstance(sort, str) or sort else True, limit=last or limit,
                                   offset=offset, iterations=iter or iterations)
        from .liveness import mark_gone

        mark_gone(self, runs)  # runs whose process is gone are recorded as such when seen
        return RunList(runs if isinstance(sort, str) or sort else reversed(runs))

    def connect(self, secrets=None) -> RunDB:
        """This store, ready (the seed system's ``get_run_db(url).connect()``); connections open on demand."""
        return self

    def del_runs(self, name: str = "", project: str = "", labels=None, state: str = "", days_ago: int = 0) -> int:
        """Delete the runs (with their iterations and logs) matching every filter given (``list_runs``'
        meaning), and with ``days_ago`` only those started more than that many days ago; how many went.
        With no filter at all, every run goes."""
        from datetime import datetime, timedelta, timezone

        check_count(days_ago, "days_ago")
        until = (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat() if days_ago else None
        deleted = 0
        for run in self.list_runs(name, project, labels, state, until=until):
            try:
                self.del_run(run["uid"])
                deleted += 1
            except NotFoundError:  # deleted meanwhile by someone else
                pass
        return deleted

    # -- artifacts: the output_artifacts entries of stored records (``rundb.artifacts``) -----------------
    def run_data_of(self, project: str | None = None):
        """Every stored record (iterations included) of ``project`` (all when ``None``), newest first.

        This default lists, then reads each record; SQL stores override it with one query."""
        for run in self.list_summaries(project=project, iterations=True):
            try:
                yield self.read_run_data(run["uid"], run["iteration"])
            except NotFoundError:  # deleted while we listed
                continue

    def list_artifacts(self, name: str = "", project: str = "", tag: str = "", labels=None, kind: str = "",
                       category: str = "", best_iteration: bool = False) -> ArtifactList:
        """The artifacts of stored runs as an ``ArtifactList`` (``.show()``), newest run first: ``name`` is an
        artifact key (when no key is ``name``, or it starts with ``~``: a part of one, as 2019 listings matched),
        ``project`` a run's project (``default`` takes runs of none too), ``labels`` as in
        ``list_runs`` over an artifact's labels laid over its run's, ``kind`` an artifact kind (``dataset``,
        ``model``, ``table``, ...), ``category`` ``model``, ``dataset`` or ``other``.  ``tag`` names one version
        per key (and iteration): the newest with that tag (``latest``: the newest of all).  ``best_iteration``
        leaves out the iterations of hyper-parameter runs (their parent holds the best one's artifacts).
        Each entry is the record's artifact entry plus ``uid``, ``run_name``, ``project`` and ``iteration`` of
        its run."""
        from . import artifacts
        from .lists import ArtifactList

        artifacts.check_category(category)
        wanted = parse_labels(labels)
        scope = None if not project or project == artifacts.DEFAULT_PROJECT else project
        found = [entry for data in self.run_data_of(scope)
                 if not best_iteration or not (data.get("metadata") or {}).get("iteration")
                 for entry in artifacts.entries(data, name, tag, wanted, kind, category, project, like=True)]
        if name and not name.startswith("~") and any(entry["key"] == name for entry in found):
            found = [entry for entry in found if entry["key"] == name]  # a whole key: that one (else a part of one)
        return ArtifactList(artifacts.newest_per_key(found) if tag and tag != artifacts.ANY_TAG else found)

    def del_artifacts(self, name: str = "", project: str = "", tag: str = "", labels=None) -> int:
        """Remove the matching artifact entries (``list_artifacts``' meaning) from the stored records; how
        many went.  The artifacts' files are left where they are: a record only points at them."""
        from . import artifacts

        wanted, removed = parse_labels(labels), 0
        for data in list(self.run_data_of(project or None)):
            count = artifacts.remove(data, name, tag, wanted)
            if count:
                self.store_run_data(data)
                removed += count
        return removed

    def store_artifact(self, key: str, artifact: Mapping, uid: str, iter: int = 0, tag: str = "",
                       project: str = "", secrets: SecretsStore | None = None) -> None:
        """Record ``artifact`` (a mapping: ``target_path``, ``format``, ...) as the artifact ``key`` of the run
        ``uid`` (iteration ``iter``), replacing one with that key; ``secrets``' values hidden.
        ``NotFoundError`` for an unknown run, ``InvalidInputError`` for a run of another ``project``."""
        from . import artifacts

        data = self.read_run_data(uid, iter)
        have = (data.get("metadata") or {}).get("project", "")
        if project and project != have:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"run {uid} belongs to project {have!r}, not {project!r}")
        artifacts.put(data, key, artifact, tag)
        self.store_run(RunRecord.from_dict(data), secrets)

    def read_artifact(self, key: str, tag: str = "", project: str = "", iter: int = 0, uid: str = "",
                      kind: str = "") -> dict:
        """The artifact ``key`` (``list_artifacts``' entry) of the newest run that has it at iteration ``iter``
        (of run ``uid`` when given; with ``tag``, the version that has it; of ``kind`` when given);
        ``NotFoundError`` when none has."""
        for entry in self.list_artifacts(key, project, "" if tag == "latest" else tag, kind=kind):
            if entry["key"] == key and entry["iteration"] == iter and (not uid or entry["uid"] == uid):
                return entry
        raise NotFoundError(f"artifact {key!r} not found" + (f" in run {uid}" if uid else ""))

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

    def read_log_tail(self, uid: str, size: int) -> tuple[bytes, int]:
        """The last ``size`` bytes of the run's log, and the whole log's size (stores that can, read no more)."""
        log = self.read_log(uid)
        return log[-size:] if 0 < size < len(log) else log, len(log)

    def tail_of_chunks(self, uid: str, rows: list, size: int) -> tuple[bytes, int]:
        """``read_log_tail`` from ``(chunk, whole log's size)`` rows, the last chunks in order (SQL stores)."""
        if not rows:
            return self.read_log(uid), 0  # no log at all (or no such run: NotFoundError)
        tail = b"".join(bytes(row[0]) for row in rows)
        return tail[-size:] if 0 < size < len(tail) else tail, int(rows[0][1])

    def get_log(self, uid: str) -> bytes:
        """``read_log``, by its MLRun 1.x name."""
        return self.read_log(uid)

    def count_runs(self, **filters) -> int:
        """The number of runs matching ``filters`` (as ``list_runs`` takes them), exactly: every match is read."""
        return len(self.list_summaries(**filters))

    def search_runs(self, filter: str | None = None, sort: str = "start_time", desc: bool = True,
                    limit: int | None = None, offset: int = 0, total_exact: bool = False,
                    **filters) -> tuple[list[dict], int]:
        """One page of the summaries matching ``filters`` (as ``list_runs`` takes them) and the filter
        expression ``filter`` (``filters.parse``), sorted by a listing field or by ``outputs.KEY`` /
        ``parameters.KEY``; with the number of runs matching.  That number is exact when the page reaches the
        end of the listing or ``total_exact`` is set; otherwise it may be a ``search.AtLeast`` (an ``int``):
        the runs up to this page, and one more, as counting a million matches reads a million rows.

        This default reads every summary ``list_runs`` gives and filters in Python (its count is always
        exact): right for stores without a query engine; SQL stores override it to push the filter down.
        """
        from .search import search_in_python

        return search_in_python(self, filter, sort, desc, limit, offset, filters)

    def close(self) -> None:  # noqa: B027 - optional: most implementations have nothing to do
        """Release connections; the store stays usable (it reconnects on demand)."""

    def check(self) -> None:
        """Reach the store with one cheap call (a server's ``/ready``); ``StoreError`` when it cannot."""
        self.list_summaries(limit=1)


def select_summaries(summaries, name=None, project=None, labels=None, state=None, since=None, until=None,
                     sort="start_time", desc=True, limit=None, offset=0, iterations=False) -> list[dict]:
    """Filter, sort and page run summaries in memory: for back ends without a query engine."""
    from ..model import RECORD_TIMES, known_time

    check_sort(sort)
    labels = parse_labels(labels)

    def wanted(s: dict) -> bool:
        return ((iterations or not s.get("iteration"))
                and (name is None or s["name"] == name)
                and (project is None or s["project"] == project)
                and (state is None or s["state"] == state)
                and (since is None or known_time(s["start_time"]) >= since)
                and (until is None or "" < known_time(s["start_time"]) <= until)  # an unknown start: neither
                and all(k in s["labels"] and (v is None or s["labels"][k] == v) for k, v in (labels or {}).items()))

    def key(s: dict) -> tuple:  # times as the instants they name, as SQL stores keep them
        return known_time(s[sort]) if sort in RECORD_TIMES else s[sort], s["uid"]

    selected = sorted((s for s in summaries if wanted(s)), key=key, reverse=desc)
    return selected[offset: None if limit is None else offset + limit]


#: the largest log a run keeps, bytes (``$MLRUN_MAX_LOG_SIZE``): what comes after is dropped, the cut noted
DEFAULT_MAX_LOG_SIZE = 64 * 1024 * 1024
MAX_LOG_ENV = "MLRUN_MAX_LOG_SIZE"


def max_log_size() -> int:
    """``$MLRUN_MAX_LOG_SIZE`` (bytes, 1 or more), else ``DEFAULT_MAX_LOG_SIZE``."""
    text = os.environ.get(MAX_LOG_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_LOG_SIZE
    if not text.isdigit() or int(text) < 1:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"{MAX_LOG_ENV}={text!r} is not a number of bytes (1 or more)")
    return int(text)


def capped_log(data: bytes, stored: int = 0) -> bytes:
    """What of ``data`` a run's log keeps after the ``stored`` bytes it holds: all of it within
    ``max_log_size()``; else what fits, and a line saying where and why the log was cut (past the
    limit then, so that later chunks are dropped whole)."""
    limit = max_log_size()
    if stored + len(data) <= limit:
        return data
    if stored > limit:  # cut before, the note written then
        return b""
    return bytes(data[:limit - stored]) + (f"\n[mlrun: the log was cut here, at {limit:,} bytes "
                                           f"({MAX_LOG_ENV}); the rest was dropped]\n").encode()


def password_spellings(url: str) -> list[str]:
    """Every way the password of ``url`` may be written out: as typed (percent-encoded), decoded, and
    encoded again as a client would (``quote``, ``quote_plus``, escapes in either case); none when the URL
    holds no password."""
    import re
    from urllib.parse import quote, quote_plus, unquote, urlsplit

    try:
        typed = urlsplit(url).password or ""
    except ValueError:
        return []
    decoded = unquote(typed)
    encoded = {typed, quote(decoded, safe=""), quote_plus(decoded, safe="")}
    for case in (str.lower, str.upper):
        encoded |= {re.sub("%[0-9A-Fa-f]{2}", lambda m, case=case: case(m.group(0)), e) for e in encoded}
    return [p for p in {*encoded, decoded} if p]


def parse_labels(labels) -> dict | None:
    """A label filter as ``{key: value}`` (``None``: has the label), from ``"k=v"``, ``["k=v", "k"]`` or a mapping."""
    if labels is None or isinstance(labels, Mapping):
        return dict(labels) if labels else None
    parsed: dict = {}
    for item in [labels] if isinstance(labels, str) else labels:
        key, sep, value = str(item).partition("=")
        if not key.strip():
            from ..errors import InvalidSpecError

            raise InvalidSpecError(f"label filter {item!r} has no key (expected KEY or KEY=VALUE)", "label")
        parsed[key.strip()] = value if sep else None
    return parsed or None


def check_count(value, name: str) -> None:
    """``value`` must be a whole number, 0 or more (``InvalidInputError`` naming ``name``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"{name} must be a whole number, 0 or more, got {value!r}")


def check_sort(sort: str) -> None:
    from ..errors import InvalidInputError
    from .filters import SORT_FIELDS  # the filter language loads only for listings

    if sort not in SORT_FIELDS:
        raise InvalidInputError(f"cannot sort runs by {sort!r} (expected one of: {', '.join(SORT_FIELDS)})")
