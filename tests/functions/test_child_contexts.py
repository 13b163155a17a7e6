"""Iterations driven by the code (MLRun 1.x): get_child_context, mark_as_best, commit(completed=True)."""
import pytest

import mlrun
import mlrun.errors
from mlrun.rundb import get_run_db


def search(context, p1=1):
    best = None
    for x in [1, 3, 2]:
        child = context.get_child_context(x=x, p1=p1)
        child.log_result("score", x * p1)
        child.log_artifact("m.txt", body=f"x={x}")
        child.commit(completed=True)
        if best is None or x * p1 > best[0]:
            best = (x * p1, child)
    best[1].mark_as_best()


def test_children_are_iterations_of_the_run_and_the_best_ones_results_are_its(tmp_path):
    run = mlrun.new_function("search").run(handler=search, params={"p1": 2})

    assert run.state() == "completed"
    assert run.output("best_iteration") == 2 and run.output("score") == 6
    assert run.status.iterations == [["state", "iter", "param.x", "param.p1", "output.score"],
                                     ["completed", 1, 1, 2, 2], ["completed", 2, 3, 2, 6], ["completed", 3, 2, 2, 4]]
    stored = get_run_db().read_run_data(run.uid, 2)
    assert stored["status"]["state"] == "completed" and stored["status"]["outputs"] == {"score": 6}
    assert stored["metadata"]["iteration"] == 2 and stored["spec"]["parameters"] == {"x": 3, "p1": 2}
    assert run.artifact("m.txt")["target_path"] == str(tmp_path / "2" / "m.txt")
    assert (tmp_path / "2" / "m.txt").read_text() == "x=3"


def test_with_parent_params_the_child_starts_from_the_runs_parameters():
    def handler(context):
        child = context.get_child_context(with_parent_params=True, extra=1)
        context.log_result("child_params", dict(child.parameters))

    run = mlrun.new_function("p").run(handler=handler, params={"p1": 7})
    assert run.output("child_params") == {"p1": 7, "extra": 1}


def test_mark_as_best_outside_a_child_is_refused():
    def handler(context):
        context.mark_as_best()

    with pytest.raises(mlrun.errors.RunError, match=r"mark_as_best\(\) is for a context made by get_child_context"):
        mlrun.new_function("p").run(handler=handler)


def test_commit_completed_ends_the_run_and_keeps_a_failed_one_failed():
    ctx = mlrun.get_or_create_ctx("committed")
    ctx.log_result("a", 1)
    ctx.commit("done", completed=True)
    stored = get_run_db().read_run_data(ctx.uid)
    assert stored["status"]["state"] == "completed" and stored["status"]["commit_message"] == "done"

    ctx.set_state("error", "broken")
    ctx.commit(completed=True)
    assert get_run_db().read_run_data(ctx.uid)["status"]["state"] == "error"
