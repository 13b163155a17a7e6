"""What a function bundle costs to build: ``mlrun function-config --bundle`` (the handler, a wheel of this
mlrun, function.yaml) against writing the config alone.

    python bench/bench_deploy.py                 # 10 rounds each
    python bench/bench_deploy.py --rounds 30

Reported: medians in milliseconds of ``build_wheel`` in process, of the whole ``--bundle`` command
(a fresh process: interpreter start, imports, the wheel, the copy, the config), and of the command
writing the config alone (``--mlrun-requirement``, no wheel); the wheel's size; the ratio of the
two commands.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "handlers", "seed_nuclio.py") + ":handler"
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_server import timed  # noqa: E402 - the one timing loop of the benchmarks


def _median_ms(fn, rounds: int) -> float:
    return statistics.median(timed(fn, rounds))


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "mlrun", "function-config", SEED, *args], check=True,
                   capture_output=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds per measurement (default 10)")
    args = parser.parse_args()
    from mlrun.deploy.bundle import build_wheel

    with tempfile.TemporaryDirectory() as work:
        wheel_ms = _median_ms(lambda: build_wheel(work), args.rounds)
        size = os.path.getsize(build_wheel(work))
        bundle_ms = _median_ms(lambda: _cli("--bundle", os.path.join(work, "bundle")), args.rounds)
        config_ms = _median_ms(lambda: _cli("--mlrun-requirement", "git+https://example.com/mlrun.git",
                                            "-o", os.path.join(work, "function.yaml")), args.rounds)
    print(f"median of {args.rounds} rounds, milliseconds")
    print(f"  build_wheel, in process                      {wheel_ms:8.1f}   ({size / 1024:.0f} KiB wheel)")
    print(f"  mlrun function-config --bundle DIR           {bundle_ms:8.1f}")
    print(f"  mlrun function-config -o FILE (config only)  {config_ms:8.1f}")
    print(f"bundle / config only: {bundle_ms / config_ms:.2f}x")


if __name__ == "__main__":
    main()
