"""The handler rules (MLRun 1.x's, with the 2019 forms they grew from), one rule for every way a handler runs."""
import pytest

import mlrun
from mlrun.loader import handler_form


def with_context(context, p1=1):
    context.log_result("p1", p1)


def with_ctx(ctx):
    ctx.log_result("form", "ctx")


def params_only(p1, p2=2):
    return p1 * p2


def context_by_name(p1, context=None):
    context.log_result("seen", p1)


def spec_2019(spec=None):
    ctx = mlrun.get_or_create_ctx("mytask", spec=spec)
    ctx.log_result("from_spec", ctx.get_param("p1"))
    return ctx


def no_args():
    return "none"


def nuclio(context, event):
    mlrun.get_or_create_ctx("n", event=event).log_result("form", "nuclio")


@pytest.mark.parametrize("fn, params, form", [
    (with_context, {}, "context"), (with_ctx, {}, "context"), (params_only, {"p1": 1}, "params"),
    (context_by_name, {}, "params"), (spec_2019, {}, "spec"), (no_args, {}, "none"), (nuclio, {}, "nuclio"),
    (lambda p1: p1, {"p1": 1}, "params"), (lambda **kw: kw, {}, "params"), (lambda x=5: x, {}, "params"),
    (lambda struct: struct, {}, "spec"),
])
def test_the_form_of_each_handler(fn, params, form):
    assert handler_form(fn, params) == form


@pytest.mark.parametrize("fn, params, outputs", [
    (with_context, {"p1": 3}, {"p1": 3}),
    (with_ctx, {}, {"form": "ctx"}),
    (params_only, {"p1": 3}, {"return": 6}),
    (context_by_name, {"p1": 4}, {"seen": 4}),
    (spec_2019, {"p1": 5}, {"from_spec": 5}),
    (no_args, {}, {"return": "none"}),
    (nuclio, {}, {"form": "nuclio"}),
])
def test_every_form_runs_the_same_through_fn_run_and_run_start(fn, params, outputs):
    assert mlrun.new_function("h").run(handler=fn, params=params).outputs == outputs
    assert mlrun.run_start(handler=fn, params=params).outputs == outputs


def test_returns_split_a_dict_by_name_and_a_tuple_by_position():
    def both():
        return {"a": 1, "b": 2, "c": 3}

    assert mlrun.new_function("r").run(handler=both, returns=["a", "c"]).outputs == {"a": 1, "c": 3}
    assert mlrun.run_start(handler=lambda: (1, 2), returns=["x", "y"]).outputs == {"x": 1, "y": 2}
    failed = mlrun.run_start(handler=lambda: (1, 2, 3), returns=["x", "y"])
    assert failed.state() == "error" and "returned 3 values for 2 names" in failed.error


def test_a_returned_dict_without_names_is_outputs_and_other_values_are_return():
    assert mlrun.run_start(handler=lambda: {"a": 1}).outputs == {"a": 1}
    assert mlrun.run_start(handler=lambda: [1, 2]).outputs == {"return": [1, 2]}


def test_returns_and_handler_strings_in_a_child_process_too(tmp_path):
    from assets import write_handlers

    fn = mlrun.new_function("j", kind="job", command=write_handlers(tmp_path))
    assert fn.run(handler="two_values", params={"p1": 3}, returns=["a", "b"]).outputs == {"a": 3, "b": 30}
    assert fn.run(handler="my_func", params={"p1": 1}).outputs == {"return": 4}
    assert fn.run(handler="Model::predict", params={"x": 2}).outputs == {"return": 14}
