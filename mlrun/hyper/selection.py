"""Judging iterations: the selector that names the best one, and the condition that ends a sweep early."""
from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from ..errors import InvalidInputError


class Selector:
    """``max.accuracy`` or ``min.loss``: the best iteration has the highest (lowest) numeric output KEY; a bare
    ``accuracy`` means ``max.accuracy`` (as MLRun 1.x and the 2019 system read it)."""

    def __init__(self, text: str):
        direction, _, key = str(text).partition(".")
        if "." not in str(text) and str(text).strip() not in ("", "max", "min"):
            direction, key = "max", str(text)
        if direction not in ("max", "min") or not key.strip():
            raise InvalidInputError(f"selector {text!r}: expected max.OUTPUT or min.OUTPUT (e.g. max.accuracy)")
        self.text, self.direction, self.key = str(text), direction, key.strip()

    def __repr__(self) -> str:
        return f"Selector({self.text!r})"

    def best(self, candidates: Iterable[tuple[int, Mapping]]) -> int | None:
        """The iteration number whose outputs score best; the lowest number wins a tie.

        ``candidates``: ``(iteration, outputs)`` pairs.  ``None`` when no output KEY is a number.
        """
        scored = [(value, iteration) for iteration, outputs in candidates
                  if _is_number(value := outputs.get(self.key))]
        if not scored:
            return None
        sign = -1 if self.direction == "max" else 1
        return min(scored, key=lambda s: (sign * s[0], s[1]))[1]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # NaN never wins


# a small, safe expression language: comparisons, arithmetic, and/or/not over names and literals
_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
            ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
            ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Name, ast.Load, ast.Constant,
            ast.Tuple, ast.List)


class StopCondition:
    """An expression over an iteration's outputs and parameters, e.g. ``accuracy >= 0.9 and loss < 2``.

    The sweep stops starting iterations once one meets it.  A name the iteration did not log makes
    the condition false for that iteration.  Only comparisons, ``+ - * / %``, ``and``/``or``/``not``
    and literals are allowed: the text is never run as arbitrary Python.
    """

    def __init__(self, text: str):
        self.text = str(text)
        try:
            tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            raise InvalidInputError(f"stop condition {self.text!r}: syntax error ({exc.msg})") from None
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise InvalidInputError(f"stop condition {self.text!r}: {type(node).__name__} is not allowed "
                                        "(use output names, numbers, comparisons, and/or/not)")
        self._code = compile(tree, "<stop condition>", "eval")

    def __repr__(self) -> str:
        return f"StopCondition({self.text!r})"

    def met(self, values: Mapping) -> bool:
        try:
            return bool(eval(self._code, {"__builtins__": {}}, dict(values)))  # noqa: S307 - checked above
        except Exception:  # a missing name or a type mismatch: not met
            return False
