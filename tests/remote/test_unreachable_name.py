"""A run to a function that never answered with a record is named after the function's URL, not left unnamed."""
import pytest
from helpers import free_port, mlrun_cli

from mlrun.rundb import get_run_db
from mlrun.runtimes.remote import function_name


def test_an_unreachable_functions_run_is_named_after_its_url(tmp_path):
    db, port = str(tmp_path / "db"), free_port()
    result = mlrun_cli("run", "--uid", "down0002", "--db", db, "-q", f"http://127.0.0.1:{port}/predict/")
    assert result.returncode == 1
    stored = get_run_db(db).read_run_data("down0002")
    assert stored["status"]["state"] == "error"
    assert stored["metadata"]["name"] == f"http://127.0.0.1:{port}/predict"
    named = mlrun_cli("run", "--uid", "down0003", "--db", db, "-q", "--name", "mine", f"http://127.0.0.1:{port}/")
    assert named.returncode == 1 and get_run_db(db).read_run_data("down0003")["metadata"]["name"] == "mine"


@pytest.mark.parametrize("url, name", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("https://user:pass@127.0.0.2:8443/a/b/?token=x#f", "https://127.0.0.2:8443/a/b"),
    ("http://[::1]:9/", "http://[::1]:9"),
])
def test_the_name_is_the_url_without_credentials_query_or_trailing_slash(url, name):
    assert function_name(url) == name


def test_a_function_url_with_credentials_is_refused_before_anything_is_recorded(tmp_path, isolated_store):
    done = mlrun_cli("run", "http://alice:pa55word-xyz@127.0.0.1:9/fn", cwd=str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "must not carry credentials: set $MLRUN_FUNCTION_TOKEN instead" in done.stderr
    assert "pa55word-xyz" not in done.stdout + done.stderr
    assert mlrun_cli("get", "runs", "-o", "json", cwd=str(tmp_path)).stdout.strip() == "[]"
