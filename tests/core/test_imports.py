"""``import mlrun`` and ``mlrun --help`` stay light: heavy libraries load only where they are used."""
import json
import subprocess
import sys

HEAVY = ["click", "boto3", "botocore", "requests", "urllib3", "flask", "werkzeug", "waitress", "kfp", "dask",
         "distributed", "nuclio_sdk", "sqlite3", "_sqlite3", "numpy", "pandas", "tqdm"]


def modules_after(code: str) -> set:
    proc = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_import_mlrun_imports_nothing_heavy():
    loaded = modules_after("import mlrun")
    assert [m for m in HEAVY if m in loaded] == []
    assert "mlrun.context" in loaded and "mlrun.model" in loaded


def test_the_seeds_import_paths_import_nothing_heavy():
    loaded = modules_after("from mlrun.runtimes import get_or_create_ctx\nfrom mlrun.utils import run_keys, update_in\n"
                           "from mlrun.secrets import SecretsStore")
    assert [m for m in HEAVY if m in loaded] == []
    assert "difflib" not in loaded  # the did-you-mean hint of an unknown field loads it, only then


def test_creating_a_context_imports_nothing_heavy():
    loaded = modules_after("import mlrun\nctx = mlrun.get_or_create_ctx('x', with_env=False)\nctx.log_metric('m', 1)")
    assert [m for m in HEAVY if m in loaded] == []


def test_cli_help_loads_click_only():
    loaded = modules_after("import sys\nfrom mlrun.cli import main\nsys.argv = ['mlrun', '--help']\n"
                           "try:\n    main()\nexcept SystemExit:\n    pass")
    assert "click" in loaded
    assert [m for m in HEAVY if m in loaded and m != "click"] == []
