import pytest

from mlrun.rundb import get_run_db
from mlrun.rundb.filedb import FileRunDB
from rundb_contract import RunDBContract


class TestFileRunDB(RunDBContract):
    @pytest.fixture
    def db(self, tmp_path):
        return FileRunDB(str(tmp_path / "store"))


def test_default_store_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRUN_DBPATH", str(tmp_path / "elsewhere"))
    db = get_run_db()
    assert isinstance(db, FileRunDB) and db.dirpath == str(tmp_path / "elsewhere")


def test_unknown_scheme_lists_known_ones():
    with pytest.raises(ValueError, match="unknown run store.*file://"):
        get_run_db("ftp://host/runs")
