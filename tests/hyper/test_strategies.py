import itertools

import pytest

from mlrun.errors import InvalidInputError
from mlrun.hyper.strategies import DEFAULT_RANDOM_ITERATIONS, iterations

GRID = {"p1": [1, 2, 3, 4], "p2": ["a", "b", "c"]}


def test_grid_tries_every_combination_first_list_fastest():
    points = iterations(GRID, "grid")
    assert len(points) == 12
    assert points[:5] == [{"p1": 1, "p2": "a"}, {"p1": 2, "p2": "a"}, {"p1": 3, "p2": "a"}, {"p1": 4, "p2": "a"},
                          {"p1": 1, "p2": "b"}]
    assert {(p["p1"], p["p2"]) for p in points} == set(itertools.product(GRID["p1"], GRID["p2"]))


def test_max_iterations_keeps_the_first_points():
    assert iterations(GRID, "grid", max_iterations=5) == iterations(GRID, "grid")[:5]
    assert iterations({"p": [1, 2, 3]}, "list", max_iterations=2) == [{"p": 1}, {"p": 2}]


def test_list_zips_positions():
    assert iterations({"p1": [1, 2], "p2": ["x", "y"]}, "list") == [{"p1": 1, "p2": "x"}, {"p1": 2, "p2": "y"}]


def test_list_refuses_lists_of_different_lengths_naming_them():
    with pytest.raises(InvalidInputError, match=r"p1: 2, p2: 3"):
        iterations({"p1": [1, 2], "p2": [1, 2, 3]}, "list")


def test_random_with_a_seed_is_reproducible_and_draws_distinct_grid_points():
    first = iterations(GRID, "random", max_iterations=8, seed=7)
    assert first == iterations(GRID, "random", max_iterations=8, seed=7)
    assert first != iterations(GRID, "random", max_iterations=8, seed=8)
    assert len({(p["p1"], p["p2"]) for p in first}) == 8
    assert all(p["p1"] in GRID["p1"] and p["p2"] in GRID["p2"] for p in first)


def test_random_defaults_and_caps_at_the_grid_size():
    assert len(iterations({"p": list(range(100))}, "random", seed=1)) == DEFAULT_RANDOM_ITERATIONS
    assert sorted(p["p"] for p in iterations({"p": [1, 2, 3]}, "random", max_iterations=50, seed=1)) == [1, 2, 3]


def test_random_draws_from_a_grid_too_big_to_list():
    huge = {f"p{i}": list(range(100)) for i in range(10)}  # 10**20 points
    points = iterations(huge, "random", max_iterations=3, seed=0)
    assert len(points) == 3 and all(set(p) == set(huge) for p in points)


@pytest.mark.parametrize("strategy", ["grids", "", "Random"])
def test_unknown_strategy_is_named(strategy):
    with pytest.raises(InvalidInputError, match=f"unknown strategy '{strategy}'"):
        iterations(GRID, strategy)


def test_nothing_to_sweep_is_refused():
    with pytest.raises(InvalidInputError, match="needs values to sweep"):
        iterations({}, "grid")
