"""A missing optional package is named with the extra that provides it: every optional import, in a subprocess
whose import system refuses that package (a ``sys.meta_path`` finder), as if it were not installed."""
import os
import subprocess
import sys
import textwrap

import pytest
import tomllib
from helpers import ROOT, free_port

from mlrun.registry import MODULE_EXTRAS, install_hint, missing_extra

REFUSING = textwrap.dedent("""
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {refused!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

    sys.meta_path.insert(0, Refuse())
""")


def without(refused: set[str], code: str, tmp_path, args=()) -> subprocess.CompletedProcess:
    """Run ``code`` with the modules ``refused`` missing, in ``tmp_path`` (its own run store)."""
    env = {**os.environ, "MLRUN_DBPATH": str(tmp_path / "db"), "PYTHONPATH": os.path.join(ROOT, "tests")}
    return subprocess.run([sys.executable, "-c", REFUSING.format(refused=refused) + code, *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)


def cli_without(refused: set[str], tmp_path, *args: str) -> subprocess.CompletedProcess:
    return without(refused, "from mlrun.cli import main\nsys.argv[0] = 'mlrun'\nmain()\n", tmp_path, args)


def hint(what: str, module: str, extra: str) -> str:
    return f"Error: {what} needs {module}; install it with: {install_hint(extra)}"


HANDLER = "def handler(ctx):\n    ctx.log_result('a', 1)\n"


@pytest.mark.parametrize("refused, args, what, extra", [
    ("flask", ["server", "--port", "0"], "mlrun server", "server"),
    ("waitress", ["server", "--port", "0"], "mlrun server", "server"),
    ("requests", ["get", "runs", "--db", "http://127.0.0.1:{port}"], "mlrun get runs", "http"),
    ("requests", ["run", "--db", "http://127.0.0.1:{port}", "h.py"], "mlrun run", "http"),
    ("requests", ["run", "http://127.0.0.1:{port}/"], "running a function by URL", "http"),
    ("boto3", ["get", "runs", "--db", "s3://bucket/runs"], "the s3:// run store", "s3"),
    ("flask", ["serve", "h.py", "--port", "0"], "mlrun serve", "server"),
    ("waitress", ["serve", "h.py", "--port", "0"], "mlrun serve", "server"),
    ("nuclio_sdk", ["serve", "h.py", "--port", "0"], "mlrun serve", "server"),
    ("distributed", ["run", "-x", "a=[1,2]", "--dask", "local", "h.py"], "mlrun run", "dask"),
])
def test_a_command_missing_an_optional_package_names_its_extra(tmp_path, refused, args, what, extra):
    (tmp_path / "h.py").write_text(HANDLER)
    port = free_port()
    result = cli_without({refused}, tmp_path, *[a.format(port=port) for a in args])
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == hint(what, refused, extra)  # one line, no traceback


@pytest.mark.parametrize("refused, code, what, extra", [
    ("boto3", "from mlrun.datastore import get_store; get_store('s3://bucket/key')", "the s3:// data store", "s3"),
    ("requests", "from mlrun.datastore import get_store; get_store('https://host/x')", "the https:// data store",
     "http"),
    ("kfp", "from mlrun.kfp import mlrun_op; mlrun_op('op', command='x.py')", "mlrun_op", "kfp"),
    ("kfp", "from mlrun.kfp import mlrun_component; mlrun_component('x.py')", "mlrun_component", "kfp"),
])
def test_the_library_missing_an_optional_package_names_its_extra(tmp_path, refused, code, what, extra):
    result = without({refused}, code, tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ") and what in last and f"mlrun-lite[{extra}]" in last, last


def test_every_mapped_extra_is_declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fp:
        declared = set(tomllib.load(fp)["project"]["optional-dependencies"])
    # postgres: the PostgreSQL store's extra, declared with the store itself
    assert set(MODULE_EXTRAS.values()) - declared <= {"postgres"}


def test_missing_extra_words_any_module_of_a_known_package_and_leaves_others_alone():
    error = missing_extra(ModuleNotFoundError("No module named 'psycopg.pq'", name="psycopg.pq"), "the pg store")
    assert str(error) == 'the pg store needs psycopg.pq; install it with: pip install "mlrun-lite[postgres]"'
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy"), "x") is None
    assert missing_extra(ImportError("cannot import name"), "x") is None
