"""Small modules: configuration defaults, the exception tree, the local runtime's file checks."""
import os

import pytest

from mlrun.config import default_dbpath, default_out_path, home_dir
from mlrun.errors import InvalidInputError, InvalidSpecError, MLRunError, NotFoundError, SecretError, StoreError
from mlrun.loader import top_level_names
from mlrun.model import RunRecord
from mlrun.runtimes import get_runtime
from mlrun.runtimes.local import LocalRuntime


def test_store_location_from_dbpath_then_home_then_user_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MLRUN_DBPATH", "s3://bucket/runs")
    assert default_dbpath() == "s3://bucket/runs"
    monkeypatch.delenv("MLRUN_DBPATH")
    monkeypatch.setenv("MLRUN_HOME", str(tmp_path))
    assert home_dir() == str(tmp_path) and default_dbpath() == str(tmp_path / "db")
    monkeypatch.delenv("MLRUN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_dbpath() == str(tmp_path / "user" / ".mlrun" / "db")


def test_out_path_default(monkeypatch):
    assert default_out_path() == ""
    monkeypatch.setenv("MLRUN_OUT_PATH", "s3://bucket/out")
    assert default_out_path() == "s3://bucket/out"


def test_the_exception_tree():
    for cls in (InvalidInputError, InvalidSpecError, SecretError):
        assert issubclass(cls, MLRunError) and issubclass(cls, ValueError)
    assert issubclass(NotFoundError, StoreError) and issubclass(NotFoundError, KeyError)
    assert str(NotFoundError("run x not found")) == "run x not found"  # not KeyError's quoted repr
    assert InvalidSpecError("bad", "spec.parameters").field == "spec.parameters"


def test_files_run_locally_and_unknown_schemes_are_refused():
    assert isinstance(get_runtime("train.py"), LocalRuntime)
    with pytest.raises(InvalidInputError, match="unknown scheme 'ftp'"):
        get_runtime("ftp://host/train.py")


def test_top_level_names_are_read_without_running_the_file(tmp_path):
    path = tmp_path / "job.py"
    path.write_text("import os.path\nfrom json import loads as parse\nX = 1\nY: int = 2\n"
                    "def train(ctx): pass\nasync def serve(ctx): pass\nclass Model: pass\n"
                    "if True:\n    def hidden(ctx): pass\nraise SystemExit('never run')\n")
    assert top_level_names(str(path)) == {"os", "parse", "X", "Y", "train", "serve", "Model"}


def test_validate_refuses_what_cannot_start(tmp_path):
    path = tmp_path / "job.py"
    path.write_text("def train(ctx):\n    pass\n")
    record = RunRecord.from_dict({"spec": {"runtime": {"kind": "local", "command": str(path), "handler": "train"}}})
    LocalRuntime(str(path)).validate(record)
    record.spec.runtime["handler"] = "nope"
    with pytest.raises(InvalidInputError, match=f"handler 'nope' not found in {path}"):
        LocalRuntime(str(path)).validate(record)
    with pytest.raises(InvalidInputError, match="file not found"):
        LocalRuntime(str(tmp_path / "missing.py")).validate(RunRecord())
    with pytest.raises(InvalidInputError, match="file not found"):
        LocalRuntime(str(tmp_path)).validate(RunRecord())  # a directory is not a script
    path.write_text("def train(ctx:\n")
    with pytest.raises(InvalidInputError, match=f"^{path}:1: syntax error"):
        LocalRuntime(str(path)).validate(record)
    assert os.listdir(tmp_path) == ["job.py"]
