"""A plain ``python script.py`` using get_or_create_ctx: its run ends in the state the process ended in."""
import signal
import subprocess
import sys
import textwrap

import pytest

from mlrun.rundb import get_run_db


def run_script(tmp_path, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text("from mlrun import get_or_create_ctx\nctx = get_or_create_ctx('plain')\n"
                      + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=60)


def only_run() -> tuple:
    runs = get_run_db().list_runs()
    assert len(runs) == 1, runs
    return runs[0]["state"], runs[0]["error"]


@pytest.mark.parametrize("body, code, state", [
    ("import sys\nsys.exit(3)\n", 3, ("error", "script exited with code 3")),
    ("import sys\nsys.exit('no input rows')\n", 1, ("error", "no input rows")),
    ("import sys\nsys.exit()\n", 0, ("completed", "")),
    ("import sys\nsys.exit(0)\n", 0, ("completed", "")),
    ("from sys import exit\nexit(4)\n", 4, ("error", "script exited with code 4")),
    ("ctx.log_output('a', 1)\n", 0, ("completed", "")),
])
def test_the_exit_code_decides_the_final_state(tmp_path, body, code, state):
    proc = run_script(tmp_path, body)
    assert proc.returncode == code, proc.stderr
    assert only_run() == state


def test_an_exit_in_a_function_after_other_work_is_seen(tmp_path):
    proc = run_script(tmp_path, """\
        import sys
        def main():
            ctx.log_output("rows", 0)
            return 2
        if __name__ == "__main__":
            sys.exit(main())
    """)
    assert proc.returncode == 2
    assert only_run() == ("error", "script exited with code 2")


def terminated_when_ready(script) -> subprocess.Popen:
    """Run ``script``, send it SIGTERM once it prints ``ready``, and return it ended."""
    proc = subprocess.Popen([sys.executable, str(script)], cwd=str(script.parent), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    return proc


def test_sigterm_ends_the_run_in_error_and_the_process_still_dies_of_it(tmp_path):
    script = tmp_path / "waits.py"
    script.write_text("import sys, time\nfrom mlrun import get_or_create_ctx\nctx = get_or_create_ctx('waits')\n"
                      "print('ready', flush=True)\ntime.sleep(60)\n")
    proc = terminated_when_ready(script)
    assert proc.returncode == -signal.SIGTERM
    assert only_run() == ("error", "terminated by SIGTERM")


def test_a_script_with_its_own_sigterm_handler_keeps_it(tmp_path):
    script = tmp_path / "own.py"
    script.write_text("import signal, sys, time\n"
                      "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                      "from mlrun import get_or_create_ctx\nctx = get_or_create_ctx('own')\n"
                      "print('ready', flush=True)\ntime.sleep(60)\n")
    proc = terminated_when_ready(script)
    assert proc.returncode == 0
    assert only_run() == ("completed", "")
