"""Sweep strategies: which parameter sets a hyper-parameter run tries, in iteration order.

``grid`` tries every combination, the first parameter varying fastest (as MLRun 1.x and the 2019 system order
it: ``{'p2': [1, 2], 'p3': [10, 20]}`` tries p2=1,p3=10; p2=2,p3=10; p2=1,p3=20; ...), ``list`` zips
equal-length lists (one iteration per position) and ``random`` draws distinct combinations of the grid with a
seeded generator, so a seed replays a sweep.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

from ..errors import InvalidInputError

STRATEGIES = ("grid", "list", "random")
#: iterations a random sweep draws when no ``max_iterations`` is given
DEFAULT_RANDOM_ITERATIONS = 10


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {strategy!r} (expected one of: {', '.join(STRATEGIES)})")
    return strategy


def iterations(hyperparams: Mapping[str, list], strategy: str = "grid", max_iterations: int = 0,
               seed: int | None = None) -> list[dict]:
    """The parameter set of each iteration: item ``n - 1`` is iteration ``n``.

    ``max_iterations`` (0: no limit) keeps the first N of a grid or list; a random sweep draws
    that many (default 10), at most as many as the grid holds.
    """
    check_strategy(strategy)
    names, values = list(hyperparams), list(hyperparams.values())
    if not names:
        raise InvalidInputError("a hyper-parameter run needs values to sweep (-x KEY=[v1,v2,...] or a param file)")
    limit = max_iterations or None
    if strategy == "list":
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            sizes = ", ".join(f"{n}: {len(v)}" for n, v in zip(names, values, strict=False))
            raise InvalidInputError(f"strategy list needs lists of one length (got {sizes})")
        points = itertools.islice(zip(*values, strict=False), limit)
    elif strategy == "grid":
        # product varies its last list fastest: over the reversed lists, each point read back to front
        points = itertools.islice((point[::-1] for point in itertools.product(*values[::-1])), limit)
    else:
        import random

        size = math.prod(len(v) for v in values)
        count = min(max_iterations or DEFAULT_RANDOM_ITERATIONS, size)
        # drawing grid positions (not values) gives distinct points, even from a grid too big to list
        rng, drawn = random.Random(seed), {}
        while len(drawn) < count:
            drawn[rng.randrange(size)] = None
        points = (_grid_point(values, index) for index in drawn)
    return [dict(zip(names, point, strict=False)) for point in points]


def _grid_point(values: list[list], index: int) -> tuple:
    """The ``index``-th combination in grid order (the first list varies fastest)."""
    point = []
    for options in values:
        index, position = divmod(index, len(options))
        point.append(options[position])
    return tuple(point)
