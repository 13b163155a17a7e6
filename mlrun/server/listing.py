"""Run listings as the API and the UI ask for them: filters, sort order and one page, read from a query string."""
from __future__ import annotations

from ..errors import InvalidSpecError
from ..model import RUN_STATES, parse_time
from ..rundb import RunDB
from ..rundb.filters import SORT_FIELDS, parse, parse_labels, sort_field
from ..rundb.search import AtLeast, page_total

DEFAULT_LIMIT = 100
#: the largest page one request returns; clients page through longer listings
MAX_LIMIT = 1000
#: the largest offset (into a listing or a log) a query may name: far below 2**63, so that a store's 64-bit
#: arithmetic on it (offset + limit, PostgreSQL's counts) never overflows
MAX_OFFSET = 2**62
PARAMS = ("name", "project", "label", "state", "since", "until", "filter", "sort", "desc", "limit", "offset",
          "iterations", "total_exact")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class Page:
    """One page of run summaries, the number of runs matching and where the next page starts.

    The number is exact (``exact``) when the page reaches the end of the listing or when it was asked for
    (``total_exact=true``); otherwise nothing was counted and it says "this page, and more" (``AtLeast``).
    """

    def __init__(self, runs: list[dict], total: int, offset: int, limit: int):
        self.exact = not isinstance(total, AtLeast)
        self.runs, self.total, self.offset, self.limit = runs, total, offset, limit
        # limit=0 counts only: there is no next page to point at
        self.next_offset = offset + limit if limit and offset + limit < total else None
        self.prev_offset = max(offset - limit, 0) if offset else None

    def to_dict(self) -> dict:
        return {"runs": self.runs, "total": int(self.total), "total_exact": self.exact, "offset": self.offset,
                "limit": self.limit, "next_offset": self.next_offset}


class ListQuery:
    """Which runs to list (``filters`` as ``RunDB.list_runs`` takes them), in which order, which page.

    Query-string form: ``name``, ``project``, ``state``, ``label=k`` or ``label=k=v`` (repeatable),
    ``since``/``until`` (ISO-8601 date or time; a bare ``until`` date includes that whole day),
    ``filter`` (an expression: ``rundb.filters``), ``sort`` (one of ``SORT_FIELDS``, ``outputs.KEY`` or
    ``parameters.KEY``), ``desc`` (true/false), ``limit`` (0 to ``MAX_LIMIT``; 0 counts
    only), ``offset``, ``iterations`` (true: include hyper-parameter iterations), ``total_exact`` (true:
    count every run matching; else a page counts nothing it does not read).
    """

    def __init__(self, filters: dict | None = None, sort: str = "start_time", desc: bool = True,
                 limit: int = DEFAULT_LIMIT, offset: int = 0, expr: str | None = None, total_exact: bool = False):
        self.filters, self.expr = filters or {}, expr
        self.sort, self.desc, self.limit, self.offset = sort, desc, limit, offset
        self.total_exact = total_exact

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
            total_exact="total_exact" in value and _flag(value["total_exact"], "total_exact"),
        )

    def fetch(self, db: RunDB) -> Page:
        if not self.limit:  # counting is all that was asked
            return Page([], db.count_runs(**self.filters) if not self.expr else db.search_runs(
                self.expr, limit=0, total_exact=True, **self.filters)[1], self.offset, 0)
        if self.expr or self.sort not in SORT_FIELDS:
            runs, total = db.search_runs(self.expr, sort=self.sort, desc=self.desc, limit=self.limit,
                                         offset=self.offset, total_exact=self.total_exact, **self.filters)
            from ..rundb.liveness import mark_gone

            mark_gone(db, runs)
            return Page(runs, total, self.offset, self.limit)
        runs = db.list_runs(**self.filters, sort=self.sort, desc=self.desc, limit=self.limit + 1, offset=self.offset)
        total = page_total(runs, self.offset, self.limit, self.total_exact, lambda: db.count_runs(**self.filters))
        return Page(runs[:self.limit], total, self.offset, self.limit)

    def to_args(self, **changes) -> dict:
        """This query as query-string arguments (for links to other pages and sort orders)."""
        args: dict = {key: value for key, value in self.filters.items() if key not in ("labels", "iterations")}
        if self.filters.get("labels"):
            args["label"] = [k if v is None else f"{k}={v}" for k, v in self.filters["labels"].items()]
        if self.filters.get("iterations"):
            args["iterations"] = "true"
        if self.expr:
            args["filter"] = self.expr
        if self.total_exact:
            args["total_exact"] = "true"
        args.update(sort=self.sort, desc="true" if self.desc else "false", limit=self.limit, offset=self.offset)
        args.update(changes)
        return args


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
