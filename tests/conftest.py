import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test gets its own run store and home, and forgets the process-wide run context."""
    import mlrun.context
    import mlrun.rundb

    monkeypatch.setenv("MLRUN_HOME", str(tmp_path / "mlrun-home"))
    monkeypatch.setenv("MLRUN_DBPATH", str(tmp_path / "db"))
    for name in ("MLRUN_EXEC_CONFIG", "MLRUN_EXEC_SECRETS", "MLRUN_OUT_PATH"):
        monkeypatch.delenv(name, raising=False)
    mlrun.context._reset_current()
    mlrun.rundb._cache.clear()
    yield str(tmp_path / "db")
    mlrun.context._reset_current()
    mlrun.rundb._cache.clear()
