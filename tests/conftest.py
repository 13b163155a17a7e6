import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# moto_server / s3_env: a real S3 endpoint; pg_server / pg_url: a real PostgreSQL cluster
pytest_plugins = ["s3server", "pgserver"]


@pytest.fixture(autouse=True)
def isolated_store(tmp_path, monkeypatch):
    """Every test gets its own run store, home and working directory, and forgets the process-wide run context.

    (Run code writes artifacts to the working directory by default: never into the checkout.)
    """
    import mlrun.lifecycle
    import mlrun.rundb

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLRUN_HOME", str(tmp_path / "mlrun-home"))
    monkeypatch.setenv("MLRUN_DBPATH", str(tmp_path / "db"))
    for name in ("MLRUN_EXEC_CONFIG", "MLRUN_EXEC_SECRETS", "MLRUN_OUT_PATH"):
        monkeypatch.delenv(name, raising=False)
    mlrun.lifecycle.reset_current()
    mlrun.rundb._cache.clear()
    yield str(tmp_path / "db")
    mlrun.lifecycle.reset_current()
    mlrun.rundb._cache.clear()
