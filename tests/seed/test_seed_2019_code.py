"""2019 code, unchanged: the seed system's own tests and example notebooks, run as they were written."""
import yaml
from kfp import compiler, dsl

from mlrun.artifacts import ChartArtifact, TableArtifact
from mlrun.rundb import get_run_db
from mlrun.runtimes import get_or_create_ctx, run_start  # where the seed README's commit imports them from


def my_func(spec=None):
    ctx = get_or_create_ctx('mytask', spec=spec)
    p1 = ctx.get_param('p1', 1)
    p2 = ctx.get_param('p2', 'a-string')
    print(f'Run: {ctx.name} (uid={ctx.uid})')
    print(f'Params: p1={p1}, p2={p2}\n')
    print('file\n{}\n'.format(ctx.get_object('infile.txt').get()))
    ctx.log_output('accuracy', p1 * 2)
    ctx.log_metric('loss', 7)
    ctx.log_artifact('chart')
    return ctx


run_spec = {'metadata': {'labels': {'owner': 'yaronh'}},
            'spec': {'parameters': {'p1': 5}, 'input_objects': [],
                     'secret_sources': [{'kind': 'file', 'source': 'secrets.txt'}]}}


def seed_files(folder):
    (folder / 'infile.txt').write_text('some input\n')
    (folder / 'chart').write_text('chart data\n')
    (folder / 'secrets.txt').write_text('ACCESS_KEY=abc\n')


def test_handler_after_a_script_run_in_the_same_process(tmp_path, monkeypatch):
    seed_files(tmp_path)
    monkeypatch.setenv('MLRUN_META_DBPATH', './')
    result = my_func().to_dict()  # the process's own run, still running
    assert result['status']['outputs'].get('accuracy') == 2

    result = run_start(run_spec, handler=my_func, rundb='./')
    assert result['status']['outputs'].get('accuracy') == 10, 'failed to run'
    assert result['status']['state'] == 'completed'
    assert result['status']['output_artifacts'][0]['key'] == 'chart'


def test_handler_hyper_after_a_script_run(tmp_path, monkeypatch):
    seed_files(tmp_path)
    monkeypatch.setenv('MLRUN_META_DBPATH', './')
    my_func()
    result = run_start(run_spec, handler=my_func, rundb='./', hyperparams={'p1': [1, 2, 3]})
    assert len(result['status']['iterations']) == 3 + 1, 'hyper parameters test failed'


def test_an_input_with_an_empty_path_is_the_local_file_of_its_key(tmp_path):
    seed_files(tmp_path)
    spec = {'spec': {'parameters': {'p1': 3}, 'input_objects': [{'key': 'infile.txt', 'path': ''}]}}
    result = run_start(spec, handler=my_func, rundb='./')

    assert result['status']['state'] == 'completed', result['status']['error']
    assert result['spec']['input_objects'] == [{'key': 'infile.txt', 'path': 'infile.txt'}]
    assert result['status']['input_objects'][0]['key'] == 'infile.txt'


def test_the_2019_artifact_arguments(tmp_path):
    def report(ctx):
        ctx.log_artifact(TableArtifact('results.csv', body='a,b\n1,2\n', visible=True, inline=False,
                                       header=['a', 'b'], viewer='table'))
        ctx.log_artifact(ChartArtifact('chart.html', data=[[1, 2]], header=['x', 'y'], target_path=''))

    result = run_start({}, handler=report)
    assert result['status']['state'] == 'completed', result['status']['error']
    assert [a['key'] for a in result['status']['output_artifacts']] == ['results.csv', 'chart.html']
    assert (tmp_path / 'results.csv').read_text() == 'a,b\n1,2\n'


def test_run_start_with_a_runtime_spec(tmp_path):
    (tmp_path / 'example1.py').write_text(
        "from mlrun import get_or_create_ctx\nctx = get_or_create_ctx('ex')\n"
        "ctx.log_output('accuracy', ctx.get_param('p1', 1) * 2)\n")
    result = run_start({'spec': {'parameters': {'p1': 4}}}, runtime={'kind': 'local', 'command': 'example1.py'},
                       rundb='./')
    assert result['status']['outputs'] == {'accuracy': 8}
    result = run_start({'spec': {'parameters': {'p1': 2}}}, runtime="{'kind': '', 'command': 'example1.py'}")
    assert result['status']['outputs'] == {'accuracy': 4}


def test_run_start_refuses_a_runtime_that_needs_a_cluster_in_one_line():
    import pytest

    with pytest.raises(ValueError, match="runtime kind 'mpijob' needs a cluster"):
        run_start({}, runtime={'kind': 'mpijob', 'command': 'x.py'})


def test_a_nuclio_handler_runs_with_run_start_and_mlrun_run(tmp_path):
    from helpers import ROOT, mlrun_cli

    seed_files(tmp_path)
    import importlib.util
    import shutil

    shutil.copyfile(f'{ROOT}/handlers/seed_nuclio.py', tmp_path / 'nuclio_fn.py')
    spec = importlib.util.spec_from_file_location('nuclio_fn', tmp_path / 'nuclio_fn.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = run_start({'spec': {'parameters': {'p1': 3}}}, handler=module.handler)
    assert result['status']['state'] == 'completed', result['status']['error']
    assert result['status']['outputs'] == {'accuracy': 6}  # what it answered (its record as YAML) is no result

    cli = mlrun_cli('run', '--handler', 'handler', '-p', 'p1=4', '--save-to', 'rec.yaml', 'nuclio_fn.py',
                    cwd=str(tmp_path))
    assert cli.returncode == 0, cli.stderr
    assert yaml.safe_load((tmp_path / 'rec.yaml').read_text())['status']['outputs'] == {'accuracy': 8}


def test_mlrun_op_with_the_2019_arguments_compiles_a_command_line(tmp_path):
    from mlrun import mlrun_op

    @dsl.pipeline(name='seed pipeline')
    def seed_pipeline(p1: int = 5):
        mlrun_op('training', command='/work/training.py', params={'p1': p1},
                 outputs={'model.txt': '', 'dataset.csv': ''}, out_path='/tmp/out', rundb='/tmp/db')

    compiler.Compiler().compile(seed_pipeline, str(tmp_path / 'p.yaml'))
    compiled = yaml.safe_load((tmp_path / 'p.yaml').read_text())
    container = compiled['deploymentSpec']['executors']['exec-training']['container']
    assert container['command'] == ['python', '-m', 'mlrun', 'run']
    assert container['args'][-1] == '/work/training.py'


def test_list_artifacts_by_part_of_a_name_and_any_tag(tmp_path):
    seed_files(tmp_path)
    run_start(run_spec, handler=my_func, rundb='./')
    db = get_run_db('./')

    assert [a['key'] for a in db.list_artifacts('chart', tag='*')] == ['chart']
    assert [a['key'] for a in db.list_artifacts('char', tag='*')] == ['chart']
    assert [a['key'] for a in db.list_artifacts('~har')] == ['chart']
    assert db.del_artifacts('char') == 0  # deleting takes whole names only


def test_a_param_file_and_selector_in_the_spec_make_a_sweep(tmp_path):
    seed_files(tmp_path)
    (tmp_path / 'param_file.csv').write_text('p1,p2\n1,a\n3,b\n2,c\n')
    spec = {'spec': {'parameters': {'p1': 5}, 'param_file': 'param_file.csv', 'selector': 'max.accuracy'}}
    result = run_start(spec, handler=my_func, rundb='./')

    assert result['status']['state'] == 'completed', result['status']['error']
    assert len(result['status']['iterations']) == 3 + 1, 'hyper parameters test failed'
    assert result['status']['outputs']['best_iteration'] == 2


def test_late_2019_dask_functions_run_here(tmp_path):
    from mlrun import NewRun, new_function

    def dask_func(context, p1=1, p2='a'):
        context.log_result('accuracy', p1 * 2)
        return f'tst-me-{context.iteration}'

    run = new_function(command='dask://', rundb=str(tmp_path / 'db')).run(NewRun(params={'p1': 3, 'p2': 'vv'}),
                                                                          handler=dask_func)
    assert run.state() == 'completed' and run.outputs == {'accuracy': 6, 'return': 'tst-me-0'}
    assert get_run_db(str(tmp_path / 'db')).read_run_data(run.uid)['status']['state'] == 'completed'
    task = NewRun().with_hyper_params({'p1': [5, 2, 3]}, 'max.accuracy')
    run = new_function(command='dask://').run(task, handler=dask_func)
    assert len(run.status.iterations) == 3 + 1 and run.spec.hyper_options['dask'] == 'local'
