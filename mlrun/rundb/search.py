"""Searching run stores with the filter language (``filters``): in Python, or pushed down to SQL."""
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


def search_in_python(db, filter, sort, desc, limit, offset, filters: dict) -> tuple[list[dict], int]:
    """``RunDB.search_runs`` for a store without a query engine: filter and sort every summary in memory."""
    from .filters import matches, sort_summaries

    by_value = check_search_sort(sort)
    tree = parse(filter) if filter else None
    runs = db.list_summaries(**filters, sort="start_time" if by_value else sort, desc=desc)
    if tree is not None:
        runs = [run for run in runs if matches(tree, run)]
    if by_value:
        runs = sort_summaries(runs, by_value, desc)
    return runs[offset: None if limit is None else offset + limit], len(runs)


def search_in_sql(db, dialect, filter, sort, desc, limit, offset, filters: dict) -> tuple[list[dict], int]:
    """``RunDB.search_runs`` for a SQL store: ``db.where(**filters)`` gives the listing filters' WHERE
    clause and arguments, ``db.query(sql, args)`` the rows."""
    from .filters import to_sql

    by_value = check_search_sort(sort)
    where, args = db.where(**filters)
    clauses = [where[len(" WHERE "):]] if where else []
    if filter:
        condition, more = to_sql(parse(filter), dialect)
        clauses.append(condition)
        args = [*args, *more]
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    order = "DESC" if desc else "ASC"
    order_args: list = []
    if by_value:  # runs without a numeric value last, either way; ties newest first
        value = dialect.order(by_value, order_args)
        order_args = order_args + order_args  # the value appears twice
        order_by = f"{value} IS NULL, {value} {order}, start_time DESC, uid DESC"
    else:
        order_by = f"{sort} {order}, uid {order}"
    no_limit = dialect.no_limit if limit is None else int(limit)
    rows = db.query(f"SELECT summary FROM runs{where} ORDER BY {order_by} LIMIT {dialect.param} OFFSET {dialect.param}",
                    [*args, *order_args, no_limit, int(offset)])
    page = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]
    if offset == 0 and (limit is None or len(page) < limit):
        total = len(page)  # the whole listing is on this page: no need to count
    else:
        total = count(db, where, args, dialect.count_beyond, offset + len(page))
    return page, total


class AtLeast(int):
    """A count that stopped early: at least this many runs match."""


def count(db, where: str, args: list, beyond: int | None, seen: int = 0) -> int:
    """The runs matching ``where``; with ``beyond``, counting stops that many runs past ``seen`` (an
    ``AtLeast`` then): an exact count of a million matches reads a million rows, a page never should."""
    if beyond is None:
        return db.query(f"SELECT COUNT(*) FROM runs{where}", args)[0][0]
    bound = seen + beyond
    found = db.query(f"SELECT COUNT(*) FROM (SELECT 1 FROM runs{where} LIMIT {int(bound) + 1}) AS matching", args)[0][0]
    return AtLeast(bound) if found > bound else found
