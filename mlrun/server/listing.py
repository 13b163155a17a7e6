"""Run listings as the API and the UI ask for them: filters, sort order and one page, read from a query string."""
from __future__ import annotations

from ..errors import InvalidSpecError
from ..model import RUN_STATES
from ..rundb import RunDB
from ..rundb.base import parse_labels
from ..rundb.filters import SORT_FIELDS, parse, sort_field

DEFAULT_LIMIT = 100
#: the largest page one request returns; clients page through longer listings
MAX_LIMIT = 1000
#: the largest offset (into a listing or a log) a query may name: far below 2**63, so that a store's 64-bit
#: arithmetic on it (offset + limit, PostgreSQL's counts) never overflows
MAX_OFFSET = 2**62
PARAMS = ("name", "project", "label", "state", "since", "until", "filter", "sort", "desc", "limit", "offset",
          "iterations")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class Page:
    """One page of run summaries, with the total count of runs matching and where the next page starts."""

    def __init__(self, runs: list[dict], total: int, offset: int, limit: int):
        # a store may stop counting (PostgreSQL: MLRUN_PG_COUNT_LIMIT): then total is a lower bound
        self.exact = type(total).__name__ != "AtLeast"
        if not self.exact:  # at least what this page shows, and one more when it is full
            total = max(total, offset + len(runs) + (1 if limit and len(runs) == limit else 0))
        self.runs, self.total, self.offset, self.limit = runs, total, offset, limit
        # limit=0 counts only: there is no next page to point at
        self.next_offset = offset + limit if limit and offset + limit < total else None
        self.prev_offset = max(offset - limit, 0) if offset else None

    def to_dict(self) -> dict:
        return {"runs": self.runs, "total": int(self.total), "offset": self.offset, "limit": self.limit,
                "next_offset": self.next_offset, **({} if self.exact else {"total_exact": False})}


class ListQuery:
    """Which runs to list (``filters`` as ``RunDB.list_runs`` takes them), in which order, which page.

    Query-string form: ``name``, ``project``, ``state``, ``label=k`` or ``label=k=v`` (repeatable),
    ``since``/``until`` (ISO-8601 date or time; a bare ``until`` date includes that whole day),
    ``filter`` (an expression: ``rundb.filters``), ``sort`` (one of ``SORT_FIELDS``, ``outputs.KEY`` or
    ``parameters.KEY``), ``desc`` (true/false), ``limit`` (0 to ``MAX_LIMIT``; 0 counts
    only), ``offset``, ``iterations`` (true: include hyper-parameter iterations).
    """

    def __init__(self, filters: dict | None = None, sort: str = "start_time", desc: bool = True,
                 limit: int = DEFAULT_LIMIT, offset: int = 0, expr: str | None = None):
        self.filters, self.expr = filters or {}, expr
        self.sort, self.desc, self.limit, self.offset = sort, desc, limit, offset

    @classmethod
    def from_args(cls, args, strict: bool = True) -> ListQuery:
        """Parse a query string (a werkzeug ``MultiDict`` or a plain mapping); ``InvalidSpecError`` names
        the bad parameter.  ``strict`` refuses parameters that are not listing parameters."""
        getlist = args.getlist if hasattr(args, "getlist") else (lambda key: [args[key]] if key in args else [])
        if strict:
            unknown = [key for key in args if key not in PARAMS]
            if unknown:
                raise InvalidSpecError(f"unknown query parameter {unknown[0]!r} (expected one of: {', '.join(PARAMS)})",
                                       unknown[0])
        value = {key: getlist(key)[-1] for key in PARAMS if getlist(key)}
        filters: dict = {key: value[key] for key in ("name", "project") if key in value}
        if "state" in value:
            filters["state"] = _choice(value["state"], RUN_STATES, "state")
        labels = parse_labels(getlist("label"))
        if labels:
            filters["labels"] = labels
        for key in ("since", "until"):
            if key in value:
                filters[key] = parse_time(value[key], key, end_of_day=key == "until")
        if "iterations" in value and _flag(value["iterations"], "iterations"):
            filters["iterations"] = True
        expr = value.get("filter", "").strip() or None
        if expr:
            parse(expr)  # a bad filter is refused before any store is asked
        sort = value.get("sort", "start_time")
        if sort_field(sort) is None:
            _choice(sort, SORT_FIELDS + ("outputs.KEY", "parameters.KEY"), "sort")
        return cls(
            filters,
            expr=expr,
            sort=sort,
            desc=_flag(value.get("desc", "true"), "desc"),
            limit=whole_number(value.get("limit", str(DEFAULT_LIMIT)), "limit", high=MAX_LIMIT),
            offset=whole_number(value.get("offset", "0"), "offset", high=MAX_OFFSET),
        )

    def fetch(self, db: RunDB) -> Page:
        if self.expr or self.sort not in SORT_FIELDS:
            runs, total = db.search_runs(self.expr, sort=self.sort, desc=self.desc, limit=self.limit,
                                         offset=self.offset, **self.filters)
            from ..rundb.liveness import mark_gone

            mark_gone(db, runs)
            return Page(runs, total, self.offset, self.limit)
        runs = db.list_runs(**self.filters, sort=self.sort, desc=self.desc, limit=self.limit,
                            offset=self.offset) if self.limit else []
        # the whole listing fits on this page: no need to count
        total = len(runs) if self.offset == 0 and len(runs) < self.limit else db.count_runs(**self.filters)
        return Page(runs, total, self.offset, self.limit)

    def to_args(self, **changes) -> dict:
        """This query as query-string arguments (for links to other pages and sort orders)."""
        args: dict = {key: value for key, value in self.filters.items() if key not in ("labels", "iterations")}
        if self.filters.get("labels"):
            args["label"] = [k if v is None else f"{k}={v}" for k, v in self.filters["labels"].items()]
        if self.filters.get("iterations"):
            args["iterations"] = "true"
        if self.expr:
            args["filter"] = self.expr
        args.update(sort=self.sort, desc="true" if self.desc else "false", limit=self.limit, offset=self.offset)
        args.update(changes)
        return args


def parse_time(text: str, field: str, end_of_day: bool = False) -> str:
    """An ISO-8601 date or time as the UTC ISO string run records use; naive times are UTC."""
    from datetime import datetime, time, timezone

    try:
        when = datetime.fromisoformat(text.strip())
        if end_of_day and len(text.strip()) == 10:  # a bare date: up to the end of that day
            when = datetime.combine(when.date(), time.max)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).isoformat()
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last UTC time there is
        raise InvalidSpecError(f"{field} {_shown(text)} is out of range once converted to UTC", field) from None
    except ValueError:
        raise InvalidSpecError(f"{field} must be an ISO-8601 date or time (e.g. 2024-01-31 or "
                               f"2024-01-31T12:00:00+00:00), got {_shown(text)}", field) from None


def _choice(text: str, choices, field: str) -> str:
    if text not in choices:
        raise InvalidSpecError(f"{field} must be one of {', '.join(choices)}, got {_shown(text)}", field)
    return text


def _flag(text: str, field: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise InvalidSpecError(f"{field} must be true or false, got {text!r}", field)


def whole_number(text: str | int, field: str, low: int = 0, high: int | None = None) -> int:
    """``text`` as an int from ``low`` to ``high``, else an ``InvalidSpecError`` naming ``field``."""
    text = str(text)
    try:
        number = int(text) if text.isascii() else None
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise InvalidSpecError(f"{field} must be a whole number {bounds}, got {_shown(text)}", field)
    return number


def _shown(text: str, most: int = 40) -> str:
    """``text`` quoted for a one-line message, cut short: a query value can be any length."""
    return repr(text if len(text) <= most else text[:most] + "...")
