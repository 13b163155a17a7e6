"""Searching run stores with the filter language (``filters``): in Python, or pushed down to SQL.

A search returns a page and the number of runs matching, counted only when that costs nothing (the page
holds the end of the listing) or when asked (``total_exact``); otherwise the number is an ``AtLeast``:
what the page shows, and one more when more runs follow.  A page reads one run past itself to know that.
"""
from __future__ import annotations

import json

from .filters import SORT_FIELDS, parse, sort_field


def check_search_sort(sort: str) -> str | None:
    """``sort``'s ``outputs.KEY`` / ``parameters.KEY`` form, ``None`` for a listing field;
    else ``InvalidInputError``."""
    if sort in SORT_FIELDS:
        return None
    field = sort_field(sort)
    if field is None:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"cannot sort runs by {sort!r} (expected one of: {', '.join(SORT_FIELDS)}, "
                                "outputs.KEY, parameters.KEY)")
    return field


class AtLeast(int):
    """A count that was not made: at least this many runs match (more than a page shows)."""


def page_total(page: list, offset: int, limit: int | None, total_exact: bool, count) -> int:
    """The number of runs matching, for a page read with one run more than ``limit`` (``page`` holds at most
    ``limit + 1``): exact when the page reaches the end of the listing, ``count()`` when ``total_exact`` (or
    when ``offset`` is past the end), else an ``AtLeast``."""
    more = limit is not None and len(page) > limit
    if not more and (page or not offset):
        return offset + len(page)
    if total_exact or not page:
        return count()
    return AtLeast(offset + limit + 1)


def search_in_python(db, filter, sort, desc, limit, offset, filters: dict) -> tuple[list[dict], int]:
    """``RunDB.search_runs`` for a store without a query engine: filter and sort every summary in memory
    (so the count is always exact)."""
    from .filters import matches, sort_summaries

    by_value = check_search_sort(sort)
    tree = parse(filter) if filter else None
    runs = db.list_summaries(**filters, sort="start_time" if by_value else sort, desc=desc)
    if tree is not None:
        runs = [run for run in runs if matches(tree, run)]
    if by_value:
        runs = sort_summaries(runs, by_value, desc)
    return runs[offset: None if limit is None else offset + limit], len(runs)


def search_in_sql(db, dialect, filter, sort, desc, limit, offset, filters: dict,
                  total_exact: bool = False) -> tuple[list[dict], int]:
    """``RunDB.search_runs`` for a SQL store: ``db.where(**filters)`` gives the listing filters' WHERE
    clause and arguments, ``db.query(sql, args)`` the rows.  Every filter and sort reads an index: numbers
    and labels are rows of ``run_numbers`` and ``run_labels``."""
    from .base import parse_labels
    from .filters import to_sql

    by_value = check_search_sort(sort)
    filters = {**filters, "labels": parse_labels(filters.get("labels"))}
    where, args = db.where(**filters)
    tree = parse(filter) if filter else None
    if tree is not None:
        condition, more = to_sql(tree, dialect)
        where = f"{where} AND {condition}" if where else f" WHERE {condition}"
        args = [*args, *more]
    want = None if limit is None else int(limit) + 1  # one more: whether the listing goes on
    if by_value:
        rows = _by_value(db, dialect, where, args, by_value, desc, want, int(offset))
    else:
        order = "DESC" if desc else "ASC"
        order_by = f"{sort} {order}, uid {order}"
        few = _few_runs(db, dialect, tree, filters.get("labels"))
        if few is not None:  # read those runs and sort them (unary +: not by walking the sort order's index)
            where = f"{where} AND {few[0]}" if where else f" WHERE {few[0]}"
            args, order_by = [*args, *few[1]], f"+{sort} {order}, +uid {order}"
        rows = db.query(f"SELECT summary FROM runs{where} ORDER BY {order_by} LIMIT {dialect.param} OFFSET"
                        f" {dialect.param}", [*args, dialect.no_limit if want is None else want, int(offset)])
    page = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]

    def counted() -> int:  # every run matching: from the index of a condition all of them pass, when there is one
        picked = _few_runs(db, dialect, tree, filters.get("labels"), bounded=False)
        if picked is None or "IN (" in where:
            return count(db, where, args)
        return count(db, f"{where} AND {picked[0]}", [*args, *picked[1]])

    return page[:limit], page_total(page, offset, limit, total_exact, counted)


def _few_runs(db, dialect, tree, labels: dict | None, bounded: bool = True) -> tuple[str, list] | None:
    """A condition every run listed must pass that few runs do (at most ``db.FEW``, told by one bounded read of
    its index), as an ``IN`` over that index; ``None`` when there is none, or the store's planner knows it.

    A page walks the runs in its sort order, testing each, until it has enough: right when many pass, but a
    label a handful of runs carry would walk all of them.  SQLite keeps no statistics of values to tell.
    ``bounded=False``: the first such condition, however many runs pass it (to count them)."""
    if not hasattr(db, "few"):
        return None
    from .filters import BoolOp, Compare

    conjuncts = [tree] if isinstance(tree, Compare) else list(tree.items) if isinstance(tree, BoolOp) and \
        tree.op == "and" else []
    tests = [dialect.index_test(node) for node in conjuncts if isinstance(node, Compare)]
    tests += [dialect.label_test(key, value) for key, value in (labels or {}).items()]
    for table, condition, values in filter(None, tests):
        select = f"SELECT uid, iteration FROM {table} WHERE {condition}"
        if not bounded or db.few(select, values):
            return f"(runs.uid, runs.iteration) IN ({select})", values
    return None


def _by_value(db, dialect, where: str, args: list, field: str, desc: bool, want: int | None, offset: int) -> list:
    """Rows sorted by the number ``field`` (ties newest first), runs without one last: the runs with one in
    ``run_numbers``' (kind, key, value) order, then the others newest first."""
    kind, key = field.split(".", 1)
    p, order = dialect.param, "DESC" if desc else "ASC"
    runs = f"(SELECT * FROM runs{where}) AS runs"
    numbered = (f" FROM {runs} JOIN run_numbers s ON s.uid = runs.uid AND s.iteration = runs.iteration"
                f" AND s.kind = {p} AND s.key = {p}")
    limit = dialect.no_limit if want is None else want
    rows = db.query(f"SELECT runs.summary{numbered} ORDER BY s.value {order}, runs.start_time DESC, runs.uid DESC"
                    f" LIMIT {p} OFFSET {p}", [*args, kind[0], key, limit, offset])
    if want is not None and len(rows) >= want:
        return rows
    # the page reaches past the runs with a number: skip what the offset leaves of the others
    skip = 0 if rows or not offset else max(0, offset - db.query(f"SELECT COUNT(*){numbered}",
                                                                 [*args, kind[0], key])[0][0])
    others = (f"SELECT summary FROM {runs} WHERE NOT EXISTS (SELECT 1 FROM run_numbers s WHERE s.uid = runs.uid"
              f" AND s.iteration = runs.iteration AND s.kind = {p} AND s.key = {p})"
              f" ORDER BY start_time DESC, uid DESC LIMIT {p} OFFSET {p}")
    rest = dialect.no_limit if want is None else want - len(rows)
    return rows + db.query(others, [*args, kind[0], key, rest, skip])


def count(db, where: str, args: list) -> int:
    """The runs matching ``where``, counted exactly (every match is read: asked for, never by a page)."""
    return db.query(f"SELECT COUNT(*) FROM runs{where}", args)[0][0]
