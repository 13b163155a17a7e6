"""Sweeps as MLRun 1.x and the 2019 system run them: grid order, bare selectors, fixed parameters in the table."""
import mlrun
from mlrun.model import HyperParamOptions


def handler(context, p1=1, p2=1, p3=1):
    context.log_result("r1", p2 * p3 + p1)


def test_grid_order_varies_the_first_parameter_fastest_and_keeps_fixed_parameters_as_columns():
    run = mlrun.new_function("grid").run(handler=handler, params={"p1": 100},
                                          hyperparams={"p2": [1, 2], "p3": [10, 20]}, selector="r1")

    assert run.status.iterations == [
        ["state", "iter", "param.p2", "param.p3", "param.p1", "output.r1"],
        ["completed", 1, 1, 10, 100, 110], ["completed", 2, 2, 10, 100, 120],
        ["completed", 3, 1, 20, 100, 120], ["completed", 4, 2, 20, 100, 140]]
    assert run.output("best_iteration") == 4  # a bare selector means max.r1


def test_min_selector_stop_condition_and_max_iterations_from_options():
    options = HyperParamOptions(selector="min.r1", max_iterations=3, stop_condition="r1 >= 21")
    run = mlrun.new_function("opts").run(handler=handler, hyperparams={"p2": [1, 2], "p3": [10, 20]},
                                          hyper_param_options=options)
    assert [row[1] for row in run.status.iterations[1:]] == [1, 2]  # stopped when r1 reached 21
    assert run.output("best_iteration") == 1


def test_a_task_with_the_2019_selector():
    task = mlrun.NewRun("t").with_hyper_params({"p2": [3, 1]}, selector="r1")
    assert mlrun.run_start(task, handler=handler).output("best_iteration") == 1
