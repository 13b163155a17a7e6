import pytest

from mlrun.errors import InvalidInputError
from mlrun.hyper.selection import Selector, StopCondition

RESULTS = [(1, {"accuracy": 0.5, "loss": 3}), (2, {"accuracy": 0.9, "loss": 1}), (3, {"accuracy": 0.9, "loss": 2}),
           (4, {"loss": 0.5}), (5, {"accuracy": "high", "loss": True})]


def test_max_and_min_pick_the_best_numeric_output_lowest_iteration_on_ties():
    assert Selector("max.accuracy").best(RESULTS) == 2
    assert Selector("min.loss").best(RESULTS) == 4
    assert Selector("min.accuracy").best(RESULTS) == 1


def test_a_key_with_dots_and_no_numeric_value():
    selector = Selector("max.metrics.f1")
    assert selector.key == "metrics.f1"
    assert selector.best([(1, {"metrics.f1": 0.3})]) == 1
    assert Selector("max.name").best([(1, {"name": "x"}), (2, {"name": float("nan")})]) is None


def test_a_bare_key_means_max_of_it():
    selector = Selector("accuracy")
    assert (selector.direction, selector.key) == ("max", "accuracy")
    assert selector.best([(1, {"accuracy": 3}), (2, {"accuracy": 5})]) == 2


@pytest.mark.parametrize("text", ["max", "max.", "best.accuracy", "", ".accuracy", "MAX.accuracy", "min"])
def test_bad_selectors_are_refused_by_name(text):
    with pytest.raises(InvalidInputError, match=f"selector '{text}': expected max.OUTPUT or min.OUTPUT"):
        Selector(text)


def test_stop_condition_over_outputs_and_params():
    condition = StopCondition("accuracy >= 0.9 and p1 < 3")
    assert condition.met({"accuracy": 0.95, "p1": 2})
    assert not condition.met({"accuracy": 0.95, "p1": 3})
    assert not condition.met({"p1": 1})  # not logged: not met
    assert not StopCondition("accuracy > 1").met({"accuracy": "text"})  # type mismatch: not met
    assert StopCondition("name in ['a', 'b'] or -loss * 2 > -1").met({"name": "c", "loss": 0.2})


@pytest.mark.parametrize("text, problem", [
    ("accuracy >=", "syntax error"),
    ("__import__('os').system('true')", "Call is not allowed"),
    ("loss.real > 1", "Attribute is not allowed"),
    ("[x for x in y]", "ListComp is not allowed"),
    ("2 ** 1000000", "Pow is not allowed"),
])
def test_stop_conditions_that_are_not_plain_comparisons_are_refused(text, problem):
    with pytest.raises(InvalidInputError) as info:
        StopCondition(text)
    assert problem in str(info.value) and repr(text) in str(info.value)
