"""The distribution is ``mlrun-lite``: the package index's ``mlrun`` is another project, so no hint sends users there.

The import name and the command stay ``mlrun``; every install hint, build file and look-up of the installed
metadata says ``mlrun-lite`` (``mlrun_lite`` in wheel and ``.dist-info`` file names).
"""
from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from helpers import ROOT

from mlrun import __version__
from mlrun.registry import DISTRIBUTION, DISTRIBUTION_FILENAME, install_hint

#: ``pip install mlrun`` (options, quotes allowed) and ``mlrun[EXTRA]``: the index's project, not this one
INDEX_NAME = re.compile(r"""pip3? install\s+(?:-\S+\s+)*["']?mlrun(?![\w-])|\bmlrun\[[A-Za-z][\w,.-]*\]""")


def old_hints() -> dict[str, list[str]]:
    """Tracked file -> the lines that tell users to install the index's ``mlrun``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = {}
    for name in files.decode().split("\0"):
        if not name or name == "tests/test_distribution_name.py":
            continue
        try:
            with open(f"{ROOT}/{name}", encoding="utf-8") as fp:
                text = fp.read()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):  # binary; deleted but not yet staged
            continue
        lines = [f"{number}: {line.strip()}" for number, line in enumerate(text.splitlines(), 1)
                 if INDEX_NAME.search(line)]
        if lines:
            found[name] = lines
    return found


def test_no_tracked_file_tells_users_to_install_the_index_mlrun():
    offenders = old_hints()
    assert not offenders, "\n".join(f"{name}:{line}" for name, lines in offenders.items() for line in lines)


def test_the_pattern_finds_the_old_spellings_and_spares_the_new():
    for old in ('pip install "mlrun[server]"', "pip install mlrun", "pip install -U 'mlrun'", "needs mlrun[s3]."):
        assert INDEX_NAME.search(old), old
    for new in ('pip install "mlrun-lite[server]"', "pip install -e '.[test]'", "pip install mlrun_lite-0.1.0.whl",
                "python -m mlrun run", "import mlrun"):
        assert not INDEX_NAME.search(new), new


def test_install_hints_name_the_new_distribution():
    assert install_hint("server") == 'pip install "mlrun-lite[server]"'
    assert install_hint("kfp", quote="'") == "pip install 'mlrun-lite[kfp]'"


def test_the_installed_distribution_is_found_by_its_new_name():
    assert metadata.distribution(DISTRIBUTION).version == __version__
    assert DISTRIBUTION_FILENAME == "mlrun_lite"
    version = subprocess.run([sys.executable, "-m", "mlrun", "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"mlrun {__version__}", version.stderr
