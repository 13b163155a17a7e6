"""MLRun 1.x's hyper-parameter tests, as its users write them: param files in memory, grid/list/random, stop
conditions, parallel runs and iterations driven by the code."""
import mlrun
import mlrun.datastore
from mlrun import new_function, new_task


def hyper_func(context, p1, p2, p3):
    print(f"p2={p2}, p3={p3}")
    context.log_result("r1", p2 * p3)


def base_spec(tmp_path):
    (tmp_path / "in.txt").write_text("input\n")
    spec = new_task(params={"p1": 8}, out_path=str(tmp_path / "out"))
    spec.spec.inputs = {"infile.txt": str(tmp_path / "in.txt")}
    return spec


def test_hyper_grid(tmp_path):
    mlrun.datastore.set_in_memory_item("params.json", '{"p2": [2,1,3], "p3": [10,20]}')
    run_spec = base_spec(tmp_path).with_param_file("memory://params.json", selector="r1", strategy="grid")
    run = new_function().run(run_spec, handler=hyper_func)

    assert run.state() == "completed"
    assert len(run.status.iterations) == 1 + 2 * 3
    assert [line[5] for line in run.status.iterations[1:]] == [20, 10, 30, 40, 20, 60]
    assert run.output("best_iteration") == 6
    assert run.spec.input_objects == [{"key": "infile.txt", "path": str(tmp_path / "in.txt")}]


def test_hyper_grid_parallel(tmp_path):
    mlrun.datastore.set_in_memory_item("params.json", '{"p2": [2,1,3], "p3": [10,20]}')
    run_spec = base_spec(tmp_path).with_param_file("memory://params.json", selector="r1", strategy="grid",
                                                   parallel_runs=2)
    run = new_function().run(run_spec, handler=hyper_func)
    assert run.state() == "completed" and len(run.status.iterations) == 1 + 2 * 3


def test_hyper_list_with_stop(tmp_path):
    mlrun.datastore.set_in_memory_item("params.json", '{"p2": [2,3,7,4,5], "p3": [10,10,10,10,10]}')
    run_spec = base_spec(tmp_path).with_param_file("memory://params.json", selector="max.r1", strategy="list",
                                                   stop_condition="r1>=70")
    run = new_function().run(run_spec, handler=hyper_func)
    assert len(run.status.iterations) == 1 + 3
    assert run.output("best_iteration") == 3


def test_hyper_random(tmp_path):
    run_spec = base_spec(tmp_path).with_hyper_params({"p2": [2, 1, 3], "p3": [10, 20, 30]}, selector="r1",
                                                     strategy="random", max_iterations=5)
    run = new_function().run(run_spec, handler=hyper_func)
    assert run.state() == "completed" and len(run.status.iterations) == 1 + 5


def custom_hyper_func(context: mlrun.MLClientCtx):
    best_accuracy = 0
    for param in [1, 2, 4, 3]:
        with context.get_child_context(myparam=param) as child:
            accuracy = child.get_param("myparam")
            child.log_result("accuracy", accuracy)
            if accuracy > best_accuracy:
                child.mark_as_best()
                best_accuracy = accuracy


def test_hyper_custom(tmp_path):
    run = new_function().run(base_spec(tmp_path), handler=custom_hyper_func)
    assert run.state() == "completed"
    assert len(run.status.iterations) == 1 + 4
    assert [line[0] for line in run.status.iterations[1:]] == ["completed"] * 4
    assert run.output("best_iteration") == 3 and run.output("accuracy") == 4
