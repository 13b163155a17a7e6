import pytest
from rundb_contract import RunDBContract

from mlrun.rundb import get_run_db
from mlrun.rundb.sqlite import SQLiteRunDB


class TestSQLiteRunDB(RunDBContract):
    @pytest.fixture
    def db(self, tmp_path):
        return SQLiteRunDB(str(tmp_path / "store"))


def test_default_store_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRUN_DBPATH", str(tmp_path / "elsewhere"))
    db = get_run_db()
    assert isinstance(db, SQLiteRunDB) and db.dirpath == str(tmp_path / "elsewhere")


def test_unknown_scheme_lists_known_ones():
    with pytest.raises(ValueError, match="unknown run store.*file://"):
        get_run_db("ftp://host/runs")
