"""Passwords in store URLs: every spelling of one (as typed, percent-encoded, and decoded) is masked on the
server's start line, in a run's stored log and in errors, against a real PostgreSQL; a pipeline never
compiles one in (the real ``kfp`` compiler)."""
from __future__ import annotations

import os
import sys
import textwrap
import uuid
from urllib.parse import quote

import pytest
import requests
import yaml
from helpers import ROOT, mlrun_cli

sys.path.insert(0, os.path.join(ROOT, "tests", "server"))
from server_process import running_server  # noqa: E402

from mlrun.errors import InvalidInputError  # noqa: E402
from mlrun.rundb import get_run_db  # noqa: E402

PASSWORD = "Pg:P@ss/w%rd#1-" + uuid.uuid4().hex[:6]
ENCODED = quote(PASSWORD, safe="")


@pytest.fixture(scope="module")
def odd_password_url(pg_server) -> str:
    """A database owned by a role whose password needs percent-encoding in a URL (the URL spells it encoded)."""
    database, role = f"mlrun_pw_{uuid.uuid4().hex[:8]}", f"mlr_{uuid.uuid4().hex[:8]}"
    with pg_server.admin() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f'CREATE DATABASE "{database}" OWNER {role}')
    return f"postgresql://{role}:{ENCODED}@127.0.0.1:{pg_server.port}/{database}"


def assert_hidden(text: str) -> None:
    assert ENCODED not in text and PASSWORD not in text
    assert ENCODED.lower() not in text.lower()  # a client may write the escapes in lower case


def test_the_start_line_and_answers_never_show_the_password(odd_password_url, tmp_path):
    env = {"PGPASSWORD": "", "MLRUN_PG_PASSWORD": ""}
    with running_server(odd_password_url, log_dir=str(tmp_path), env=env) as srv:
        answers = [requests.get(srv.url + path, timeout=10).text for path in ("/", "/api/runs", "/healthz")]
        log = srv.log()
    assert "mlrun server: serving runs from postgresql://" in log and ":***@127.0.0.1" in log
    for text in (log, *answers):
        assert_hidden(text)


def test_a_runs_stored_log_and_errors_never_show_the_password(odd_password_url, tmp_path):
    script = tmp_path / "show.py"
    script.write_text(textwrap.dedent("""\
        import os
        from urllib.parse import unquote, urlsplit

        url = os.environ["MLRUN_DBPATH"]
        print("store:", url)
        print("typed:", urlsplit(url).password, "decoded:", unquote(urlsplit(url).password))
    """))
    ran = mlrun_cli("run", "--name", "pw", str(script), cwd=str(tmp_path), env={"MLRUN_DBPATH": odd_password_url})
    assert ran.returncode == 0, ran.stderr
    assert_hidden(ran.stdout + ran.stderr)
    db = get_run_db(odd_password_url)
    (run,) = db.list_runs(name="pw")
    log = db.read_log(run["uid"]).decode() if isinstance(db.read_log(run["uid"]), bytes) else db.read_log(run["uid"])
    assert "typed: " in log and "decoded: " in log
    assert_hidden(log)

    wrong_port = odd_password_url.replace(odd_password_url.split("@")[1].split("/")[0], "127.0.0.1:1")
    failed = mlrun_cli("get", "runs", "--db", wrong_port, env={"MLRUN_PG_CONNECT_TIMEOUT": "3"})
    assert failed.returncode == 1 and failed.stderr.startswith("Error: cannot connect to run store")
    assert_hidden(failed.stderr)


def test_a_pipeline_never_compiles_a_password_in(tmp_path):
    from kfp import compiler, dsl

    from mlrun.kfp import mlrun_component, mlrun_op

    url = f"postgresql://mlr:{ENCODED}@db.example:5432/runs"
    for make in (mlrun_component, mlrun_op):
        with pytest.raises(InvalidInputError) as refused:
            make(os.path.join(ROOT, "handlers", "seed.py"), rundb=url)
        message = str(refused.value)
        assert "rundb holds a password" in message and "MLRUN_PG_PASSWORD" in message and "\n" not in message
        assert_hidden(message)

    @dsl.pipeline(name="no-password")
    def pipeline():
        mlrun_component(os.path.join(ROOT, "handlers", "seed.py"), rundb="postgresql://mlr@db.example:5432/runs")

    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    assert "postgresql://mlr@db.example:5432/runs" in path.read_text()
    yaml.safe_load(path.read_text())
