"""scripts/test.sh: one line per step, apt and pip detail in a log shown on failure, system-wide installs said
first.  Run on a copy of the script whose apt-get, id and .venv/bin/python are stand-ins that record their calls."""
import os
import shutil
import subprocess

import pytest
from helpers import ROOT

FAKE_PYTHON = """#!/bin/bash
echo "python $*" >> "$CALLS"
case "$*" in
  *"pip install -e"*) echo "Collecting a-dependency (pip detail)"
                      if [ -n "$FAIL_PIP" ]; then echo "ERROR: No matching distribution for a-dependency"; exit 1; fi ;;
  *pytest*) echo "pytest ran" ;;
  *mkdocs*) ;;
  *) echo "Requirement already satisfied: pip (pip detail)" ;;
esac
"""

FAKE_APT = """#!/bin/bash
echo "apt-get $*" >> "$CALLS"
echo "Reading package lists... (apt detail)"
"""


@pytest.fixture
def checkout(tmp_path):
    """A checkout holding scripts/test.sh and a ready .venv; a PATH with the few tools it uses, no chromium."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(os.path.join(ROOT, "scripts", "test.sh"), tmp_path / "scripts" / "test.sh")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("dirname", "mkdir", "tail", "ls", "cat"):
        os.symlink(shutil.which(tool), bindir / tool)
    for name, text in (("apt-get", FAKE_APT), ("id", "#!/bin/bash\necho 0\n"), ("chromium", "#!/bin/bash\n"),
                       ("chromedriver", "#!/bin/bash\n"), ("initdb", "#!/bin/bash\n")):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text(FAKE_PYTHON)
    (tmp_path / ".venv" / "bin" / "python").chmod(0o755)
    return tmp_path


def run_script(checkout, *args, **env):
    calls = checkout / "calls"
    environ = {"PATH": str(checkout / "bin"), "CALLS": str(calls), "HOME": str(checkout), **env}
    proc = subprocess.run([shutil.which("bash"), "scripts/test.sh", *args], cwd=checkout, env=environ,
                          capture_output=True, text=True, timeout=60)
    return proc, calls.read_text().splitlines() if calls.exists() else []


def test_steps_are_one_line_each_and_the_detail_goes_to_the_log(checkout):
    proc, calls = run_script(checkout, "-k", "cli")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "== test.sh: pip install --upgrade pip (details: .venv/test-setup.log)",
        "== test.sh: pip install -e '.[test]' (details: .venv/test-setup.log)",
        "== test.sh: mkdocs build --strict (the docs site: a broken link or reference fails here)",
        "== test.sh: python -m pytest -n 4 --dist worksteal -k cli",
        "pytest ran"]
    assert "python -m mkdocs build --strict --quiet --site-dir .venv/site" in calls
    assert "pip detail" in (checkout / ".venv" / "test-setup.log").read_text()
    assert not [call for call in calls if call.startswith("apt-get")]  # nothing missing: nothing installed


def test_a_failing_step_shows_the_end_of_the_log(checkout):
    proc, calls = run_script(checkout, FAIL_PIP="1")
    assert proc.returncode == 1
    assert "test.sh: failed: .venv/bin/python -m pip install -e .[test]" in proc.stderr
    assert "ERROR: No matching distribution for a-dependency" in proc.stderr
    assert not [call for call in calls if "pytest" in call]


def test_missing_packages_are_said_before_they_are_installed_system_wide(checkout):
    for name in ("chromium", "chromedriver"):
        (checkout / "bin" / name).unlink()
    proc, calls = run_script(checkout)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == "== test.sh: installing system-wide with apt-get: chromium chromium-driver (the UI tests)"
    assert [call for call in calls if call.startswith("apt-get")] == [
        "apt-get update -qq", "apt-get install -y chromium chromium-driver"]
    assert "apt detail" in (checkout / ".venv" / "test-setup.log").read_text()
    assert "apt detail" not in proc.stdout + proc.stderr


def test_without_root_a_missing_package_is_named_not_installed(checkout):
    (checkout / "bin" / "chromium").unlink()
    (checkout / "bin" / "id").write_text("#!/bin/bash\necho 1000\n")
    proc, calls = run_script(checkout)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "the UI tests needs: sudo apt-get install chromium chromium-driver\n"
    assert calls == []


def test_the_distribution_under_its_old_name_is_uninstalled_before_mlrun_lite_is_installed(checkout):
    """``mlrun`` (the old name) owns the same package and command: left beside mlrun-lite, removing it later would
    take the command away."""
    (checkout / ".venv" / "lib" / "python3.11" / "site-packages" / "mlrun-0.1.0.dist-info").mkdir(parents=True)
    proc, calls = run_script(checkout, "-k", "cli")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("== test.sh: pip uninstall mlrun (mlrun-lite's old name")
    pips = [call for call in calls if " pip " in call]
    assert pips[0] == "python -m pip uninstall -y mlrun" and pips[-1] == "python -m pip install -e .[test]"
