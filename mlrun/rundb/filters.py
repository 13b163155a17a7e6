"""The run filter language: one expression, evaluated the same way by every run store.

    outputs.accuracy > 0.9 and labels.team = vision
    (state = error or state = running) and not name ~ "smoke"
    parameters.lr <= 1e-3 and start_time >= 2024-06-01

Grammar (keywords are case-insensitive)::

    expr   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | FIELD OP VALUE
    OP     := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" (contains)
    VALUE  := a number, a 'quoted' or "quoted" string, or a bare word (letters, digits, _ . - : + /)
    FIELD  := name | project | state | uid | iteration | start_time | last_update | end_time
            | labels.KEY | outputs.KEY | parameters.KEY (params.KEY)

``parse`` turns the text into a tree (``FilterError`` points at the bad token by position);
``matches`` evaluates a tree over a run summary (stores without a query engine); ``to_sql``
compiles it for SQLite or PostgreSQL.  Both give the same answers: a comparison with a field a run
does not have is false (and ``not`` of it true); a number compares with numbers only (outputs and
parameters keep their JSON types), a word or quoted string with strings only.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidSpecError

#: columns ``RunDB.list_runs`` can sort by
SORT_FIELDS = ("start_time", "last_update", "name", "state", "uid")
TEXT_FIELDS = ("name", "project", "state", "uid")
TIME_FIELDS = {"start_time": "start_time", "last_update": "last_update", "end_time": "last_update"}
NUMBER_FIELDS = ("iteration",)
#: FIELD prefixes for keyed values, and the summary key each reads
KEYED = {"labels": "labels", "outputs": "outputs", "parameters": "parameters", "params": "parameters"}
OPS = ("=", "!=", "<", "<=", ">", ">=", "~")
#: the longest filter text accepted (a query string can be any length)
MAX_FILTER = 4096
#: the deepest nesting of parentheses and ``not`` accepted (every store's SQL parser has a limit of its own)
MAX_DEPTH = 32

_TOKEN = re.compile(r"""\s*(?:(?P<op><=|>=|!=|==|=|<|>|~)|(?P<paren>[()])|(?P<str>'[^']*'|"[^"]*")|"""
                    r"""(?P<word>[A-Za-z0-9_.:+\-/]+)|(?P<bad>\S))""")
# one way to match any text (no choice between two runs of digits): linear time, whatever it is given
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_KEY = re.compile(r"[A-Za-z0-9_.:\-/]+$")


def field_names() -> list[str]:
    """Every FIELD a filter takes, as help texts list them (``labels.KEY`` for the keyed ones, aliases too)."""
    return [*TEXT_FIELDS, *NUMBER_FIELDS, *TIME_FIELDS, *(f"{prefix}.KEY" for prefix in KEYED)]


def filter_help() -> str:
    """The fields and operators of the filter language in one line, for ``--help`` and the web UI."""
    return f"fields: {', '.join(field_names())}; operators: {' '.join(OPS)} (~: contains); and, or, not, parentheses"


def is_key(key) -> bool:
    """True if ``key`` can follow ``labels.``, ``outputs.`` or ``parameters.`` in a filter as it is."""
    return isinstance(key, str) and _KEY.match(key) is not None


class FilterError(InvalidSpecError):
    """A filter that does not parse; the message names the bad token and its position (1-based)."""

    def __init__(self, message: str, field: str = "filter"):
        super().__init__(message, field)


@dataclass(frozen=True)
class Compare:
    field: str  # "name", "start_time" (aliases resolved), "labels.team", "outputs.accuracy", ...
    op: str
    value: str | float  # a float for a number literal, else the text (times normalized to UTC ISO)


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple


@dataclass
class _Token:
    kind: str
    text: str
    pos: int  # 1-based column


def tokenize(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None or m.end() == at:  # trailing blanks
            break
        kind = m.lastgroup
        start = m.start(kind) + 1
        if kind == "bad":
            raise FilterError(f"filter: unexpected character {m.group(kind)!r} at position {start}")
        tokens.append(_Token(kind, m.group(kind), start))
        at = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text, self.tokens, self.at, self.depth = text, tokenize(text), 0, 0

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def fail(self, expected: str, token: _Token | None = None):
        token = token or self.peek()
        if token is None:
            raise FilterError(f"filter: expected {expected} at the end (position {len(self.text) + 1})")
        raise FilterError(f"filter: expected {expected} at position {token.pos}, got {token.text!r}")

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() == word:
            self.at += 1
            return True
        return False

    def parse(self):
        if not self.tokens:
            raise FilterError("filter: empty expression")
        tree = self.expr()
        if self.peek() is not None:
            self.fail("'and', 'or' or the end")
        return tree

    def expr(self):
        items = [self.term()]
        while self.keyword("or"):
            items.append(self.term())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def term(self):
        items = [self.factor()]
        while self.keyword("and"):
            items.append(self.factor())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def factor(self):
        token = self.peek()
        if token is not None and (token.text == "(" or token.text.lower() == "not"):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterError(f"filter: nested deeper than {MAX_DEPTH} levels of '(' and 'not' "
                                  f"at position {token.pos}")
            tree = self.nested()
            self.depth -= 1
            return tree
        return self.comparison()

    def nested(self):
        if self.keyword("not"):
            return Not(self.factor())
        self.at += 1  # "("
        tree = self.expr()
        closing = self.peek()
        if closing is None or closing.text != ")":
            self.fail("')'")
        self.at += 1
        return tree

    def comparison(self) -> Compare:
        token = self.peek()
        if token is None or token.kind != "word" or token.text.lower() in ("and", "or", "not"):
            self.fail("a field (name, state, outputs.KEY, labels.KEY, ...)")
        field = _field(token)
        self.at += 1
        op = self.peek()
        if op is None or op.kind != "op":
            self.fail(f"an operator ({' '.join(OPS)}) after {token.text!r}")
        self.at += 1
        value = self.peek()
        if value is None or value.kind not in ("word", "str"):
            self.fail(f"a value after {op.text!r}")
        if value.kind == "word" and value.text.lower() in ("and", "or", "not"):
            self.fail(f"a value after {op.text!r} (quote a keyword to compare with it)")
        self.at += 1
        return Compare(field, "=" if op.text == "==" else op.text, _value(field, op.text, value))


def _field(token: _Token) -> str:
    text = token.text
    if text in TEXT_FIELDS or text in NUMBER_FIELDS:
        return text
    if text in TIME_FIELDS:
        return TIME_FIELDS[text]
    prefix, _, key = text.partition(".")
    if prefix in KEYED and is_key(key):
        return f"{KEYED[prefix]}.{key}"
    raise FilterError(f"filter: unknown field {text!r} at position {token.pos} (expected one of: "
                      f"{', '.join(field_names())})")


def _value(field: str, op: str, token: _Token) -> str | float:
    text = token.text[1:-1] if token.kind == "str" else token.text
    number = token.kind == "word" and _NUMBER.match(text) is not None
    if op == "~":  # "contains" is a text match
        if field in NUMBER_FIELDS:
            raise FilterError(f"filter: ~ (contains) matches text, and {field} is a number (position {token.pos})")
        return text
    if field in TIME_FIELDS.values():
        return _utc(text, token)
    if field in NUMBER_FIELDS:
        if not number:
            raise FilterError(f"filter: {field} compares with a number, got {text!r} at position {token.pos}")
        return float(text)
    if number and field.startswith(("outputs.", "parameters.")):
        return float(text)
    return text  # names, states and labels are text, even when they look like numbers


def _utc(text: str, token: _Token) -> str:
    """An ISO-8601 date or time as the UTC ISO text run records hold (naive times are UTC)."""
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(text)
        when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when
        return when.astimezone(timezone.utc).isoformat()
    except (ValueError, OverflowError):
        raise FilterError(f"filter: expected an ISO-8601 date or time at position {token.pos}, got {text!r}") from None


def parse(text: str):
    """The expression tree of ``text``; ``FilterError`` (an ``InvalidSpecError``, field ``filter``) when it is bad."""
    if len(text) > MAX_FILTER:
        raise FilterError(f"filter: longer than {MAX_FILTER} characters")
    if "\x00" in text:  # no store keeps one in its text: PostgreSQL refuses it outright
        raise FilterError(f"filter: NUL character at position {text.index(chr(0)) + 1}")
    return _Parser(text).parse()


def check_listing_text(labels=None, **values) -> None:
    """Refuse (``FilterError``, naming the field) text no store can compare with: a NUL character anywhere
    (PostgreSQL refuses it), a label key with a quote or a control character (SQLite's JSON paths cannot
    name it)."""
    for field, value in [*values.items(), *(("label", v) for v in (labels or {}).values())]:
        if isinstance(value, str) and "\x00" in value:
            raise FilterError(f"{field} holds a NUL character", field)
    for key in labels or {}:
        if '"' in str(key) or any(ord(c) < 0x20 for c in str(key)):
            raise FilterError(f"label key {str(key)[:40]!r} holds a quote or a control character", "label")


# --- evaluation over summaries (stores without a query engine) ----------------------------------------------

def _lookup(summary: dict, field: str):
    prefix, _, key = field.partition(".")
    if not key:
        if field in TIME_FIELDS.values():  # as SQL stores keep it: UTC text, or not known
            from ..model import known_time

            return known_time(summary.get(field)) or None
        return summary.get(field)
    values = summary.get(prefix)
    return values.get(key) if isinstance(values, dict) else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare(have, op: str, want) -> bool:
    if op == "~":
        return isinstance(have, str) and want in have
    if isinstance(want, float) != _is_number(have) or (not _is_number(have) and not isinstance(have, str)):
        return False  # numbers compare with numbers, text with text; a missing value with nothing
    return {"=": have == want, "!=": have != want, "<": have < want, "<=": have <= want,
            ">": have > want, ">=": have >= want}[op]


def matches(tree, summary: dict) -> bool:
    """Whether the run ``summary`` (``RunRecord.summary()``) satisfies the expression ``tree``."""
    if isinstance(tree, Compare):
        return _compare(_lookup(summary, tree.field), tree.op, tree.value)
    if isinstance(tree, Not):
        return not matches(tree.item, summary)
    if tree.op == "and":
        return all(matches(item, summary) for item in tree.items)
    return any(matches(item, summary) for item in tree.items)


# --- sorting by an output or parameter ------------------------------------------------------------------------

def sort_field(sort: str) -> str | None:
    """``outputs.KEY`` / ``parameters.KEY`` (``params.KEY``) as ``prefix.KEY``; ``None`` for any other sort."""
    prefix, _, key = sort.partition(".")
    if prefix in ("outputs", "parameters", "params") and key and _KEY.match(key):
        return f"{KEYED[prefix]}.{key}"
    return None


def sort_summaries(summaries: list[dict], field: str, desc: bool) -> list[dict]:
    """Sorted by the numeric value of ``field`` (ties: newest first); runs without one come last either way."""
    numbered = [s for s in summaries if _is_number(_lookup(s, field))]
    others = [s for s in summaries if not _is_number(_lookup(s, field))]
    numbered.sort(key=lambda s: (s["start_time"], s["uid"]), reverse=True)
    numbered.sort(key=lambda s: _lookup(s, field), reverse=desc)
    return numbered + others


# --- SQL ------------------------------------------------------------------------------------------------------

class Dialect:
    """How a store's SQL reads a summary: ``SQLITE`` and ``POSTGRES`` below."""

    param = "?"
    false = "0"
    no_limit: int | None = -1

    def json_number(self, prefix: str, key: str, args: list) -> str:
        raise NotImplementedError

    def json_text(self, prefix: str, key: str, args: list) -> str:
        raise NotImplementedError

    def contains(self, expr: str) -> str:
        return f"instr({expr}, {self.param}) > 0"

    def compare(self, node: Compare, args: list) -> str:
        prefix, _, key = node.field.partition(".")
        test = self.index_test(node)
        if test is not None:
            return self.exists(test, args)
        if node.field in TIME_FIELDS.values() and node.op in ("<", "<=", "!="):
            args.append(node.value)  # a time not known is stored empty: it compares with nothing
            return f"({node.field} <> '' AND {node.field} {'<>' if node.op == '!=' else node.op} {self.param})"
        if not key:
            expr = node.field  # a column of its own
        elif isinstance(node.value, float) and node.op != "~":
            expr = self.json_number(prefix, key, args)
        else:
            expr = self.json_text(prefix, key, args)
        args.append(node.value)
        if node.op == "~":
            return self.contains(expr)
        return f"{expr} {'<>' if node.op == '!=' else node.op} {self.param}"

    def index_test(self, node: Compare) -> tuple[str, str, list] | None:
        """``(table, condition, arguments)``: the rows of an index table (``run_numbers``, ``run_labels``) whose runs
        pass ``node``; ``None`` when no index table serves it."""
        prefix, _, key = node.field.partition(".")
        if key and prefix != "labels" and isinstance(node.value, float) and node.op != "~":
            # prefix is one of KEYED's values: never user text
            return ("run_numbers", f"kind = {self.param} AND key = {self.param} AND value "
                                   f"{'<>' if node.op == '!=' else node.op} {self.param}", [prefix[0], key, node.value])
        return None

    def label_test(self, key: str, value: str | None) -> tuple[str, str, list]:
        """``index_test`` for having the label ``key`` (with the text ``value`` unless ``None``): ``run_labels``."""
        if value is None:
            return "run_labels", f"key = {self.param}", [str(key)]
        return "run_labels", f"key = {self.param} AND value = {self.param}", [str(key), str(value)]

    @staticmethod
    def exists(test: tuple[str, str, list], args: list) -> str:
        """Whether the run has a row passing ``test`` (``index_test``): a probe of the index table by run."""
        table, condition, values = test
        args.extend(values)
        return (f"EXISTS (SELECT 1 FROM {table} WHERE {table}.uid = runs.uid AND {table}.iteration = runs.iteration"
                f" AND {condition})")

    def where(self, tree, args: list) -> str:
        """``tree`` as a SQL condition (never NULL: a missing value makes a comparison false)."""
        if isinstance(tree, Compare):
            condition = self.compare(tree, args)
            # columns are NOT NULL, and EXISTS / @> never NULL: left bare, so that indexes serve them
            if "." not in tree.field or condition.startswith(("EXISTS ", "labels @> ")):
                return condition
            return f"COALESCE({condition}, {self.false})"
        if isinstance(tree, Not):
            return f"NOT {self.where(tree.item, args)}"
        return "(" + f" {tree.op.upper()} ".join(self.where(item, args) for item in tree.items) + ")"

    def order(self, field: str, args: list) -> str:
        """The numeric value of ``outputs.KEY`` / ``parameters.KEY`` to sort by (NULL when there is none)."""
        prefix, _, key = field.partition(".")
        return self.json_number(prefix, key, args)

    def listing_where(self, name=None, project=None, labels=None, state=None, since=None, until=None,
                      iterations=False) -> tuple[str, list]:
        """The WHERE clause (with its leading space, or empty) and arguments for ``RunDB.list_runs``' filters."""
        labels = parse_labels(labels)
        check_listing_text(name=name, project=project, state=state, labels=labels)
        where: list[str] = []
        args: list = []
        # a run whose start is not known (empty) started neither before nor after any time
        for condition, value in ((f"name = {self.param}", name), (f"project = {self.param}", project),
                                 (f"state = {self.param}", state), (f"start_time >= {self.param}", since),
                                 (f"start_time <= {self.param} AND start_time <> ''", until)):
            if value is not None:
                where.append(condition)
                args.append(value)
        if not iterations:
            where.append("iteration = 0")
        if labels:
            self.label_conditions(labels, where, args)
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def label_conditions(self, labels: dict, where: list, args: list) -> None:
        """Conditions for ``labels`` (``{key: value}``; a value of ``None``: has the label)."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    """``runs.summary`` is JSON text."""

    def _path(self, prefix: str, key: str, args: list) -> None:
        args.extend([f'$.{prefix}."' + key.replace('"', '""') + '"'] * 2)

    def json_number(self, prefix: str, key: str, args: list) -> str:
        self._path(prefix, key, args)
        return "(CASE WHEN json_type(summary, ?) IN ('integer', 'real') THEN json_extract(summary, ?) END)"

    def json_text(self, prefix: str, key: str, args: list) -> str:
        self._path(prefix, key, args)
        return "(CASE WHEN json_type(summary, ?) = 'text' THEN json_extract(summary, ?) END)"

    def index_test(self, node: Compare) -> tuple[str, str, list] | None:
        prefix, _, key = node.field.partition(".")
        if prefix == "labels" and node.op == "=" and key:
            return self.label_test(key, node.value)
        return super().index_test(node)

    def label_conditions(self, labels: dict, where: list, args: list) -> None:
        for key, value in labels.items():
            where.append(self.exists(self.label_test(key, value), args))


class PostgresDialect(Dialect):
    """``runs.summary`` is JSONB; numeric outputs and parameters are also rows of ``run_numbers`` (indexed by
    key and value), which a numeric comparison reads instead."""

    param = "%s"
    false = "FALSE"
    no_limit = None  # LIMIT NULL

    def contains(self, expr: str) -> str:
        return f"strpos({expr}, %s) > 0"

    def json_number(self, prefix: str, key: str, args: list) -> str:
        args.extend([key, key])  # prefix is one of KEYED's values: never user text
        return (f"(CASE WHEN jsonb_typeof(summary->'{prefix}'->%s) = 'number' "
                f"THEN (summary->'{prefix}'->>%s)::float8 END)")

    def json_text(self, prefix: str, key: str, args: list) -> str:
        args.extend([key, key])
        return (f"(CASE WHEN jsonb_typeof(summary->'{prefix}'->%s) = 'string' "
                f"THEN (summary->'{prefix}'->>%s) COLLATE \"C\" END)")

    def compare(self, node: Compare, args: list) -> str:
        prefix, _, key = node.field.partition(".")
        if prefix == "labels" and node.op == "=":
            import json

            args.append(json.dumps({key: node.value}))
            return "labels @> %s::jsonb"  # served by the GIN index on labels
        return super().compare(node, args)

    def label_conditions(self, labels: dict, where: list, args: list) -> None:
        import json

        values = {str(k): str(v) for k, v in labels.items() if v is not None}
        if values:  # one containment test, served by the GIN index on labels (psycopg stays unloaded until a query)
            where.append("labels @> %s::jsonb")
            args.append(json.dumps(values))
        for key in (k for k, v in labels.items() if v is None):
            where.append("labels ? %s")
            args.append(str(key))


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()


def to_sql(tree, dialect: Dialect) -> tuple[str, list]:
    """A SQL condition over the ``runs`` table (its ``summary`` column) and its arguments."""
    args: list = []
    return dialect.where(tree, args), args


def parse_labels(labels) -> dict | None:
    """A label filter as ``{key: value}`` (``None``: has the label), from ``"k=v"``, ``["k=v", "k"]`` or a mapping."""
    if labels is None or isinstance(labels, Mapping):
        return dict(labels) if labels else None
    parsed: dict = {}
    for item in [labels] if isinstance(labels, str) else labels:
        key, sep, value = str(item).partition("=")
        if not key.strip():
            raise InvalidSpecError(f"label filter {item!r} has no key (expected KEY or KEY=VALUE)", "label")
        parsed[key.strip()] = value if sep else None
    return parsed or None
