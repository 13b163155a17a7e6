"""What one request costs the server, in CPU instructions: ``mlrun serve``'s app vs a bare Flask echo.

    python bench/bench_serve_cost.py               # needs valgrind (apt-get install valgrind)
    python bench/bench_serve_cost.py --requests 400

Timings on a shared or virtual machine swing run to run; instruction counts do not.  Each app is
called in process, the way waitress calls it (a WSGI environ per request, built with Werkzeug),
under valgrind's callgrind, once with 50 requests and once with ``50 + --requests``: the difference,
divided, is the cost of one request with start-up and imports taken out.  Building the environ is
counted alone too and taken off both.  Reported: millions of instructions per request for

- ``mlrun serve`` running the seed's handler (``handlers/seed.py:my_func``: parameters, a secret,
  an input file read with lineage, a metric history, an artifact written),
- ``mlrun serve`` running a handler that does nothing (what mlrun's frame costs on its own),
- a bare Flask app echoing the same JSON (the baseline of ``bench_serve.py``),

and the ratios.  Kernel time (file and socket system calls) and waitress's own work are not counted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, "handlers", "seed.py") + ":my_func"
WARM = 50


def _apps(work: str) -> dict:
    """name -> a callable serving one request."""
    from flask import Flask, request
    from werkzeug.test import EnvironBuilder

    from mlrun.adapters.flask import create_app, load_handler
    from mlrun.run import new_run

    infile = os.path.join(work, "infile.txt")
    with open(infile, "w") as fp:
        fp.write("hello from infile.txt\n")
    with open(os.path.join(work, "noop.py"), "w") as fp:
        fp.write("def noop(ctx):\n    pass\n")
    spec = new_run(params={"p1": 5}, inputs={"infile.txt": infile}, command="http://127.0.0.1", kind="remote")
    body = json.dumps({**spec.to_dict(), "secrets": {"ACCESS_KEY": "bench-access-key"}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/vnd.mlrun.run+json"}

    def environ() -> dict:
        return EnvironBuilder(path="/", method="POST", data=body, headers=headers).get_environ()

    echo = Flask("echo")

    @echo.post("/")
    def echo_view():
        data = request.get_json()
        data.pop("secrets", None)
        return data

    def serving(app):
        def call():
            answer = b"".join(app(environ(), lambda status, headers, exc_info=None: None))
            assert answer, "empty answer"
        return call

    def served(target: str):
        handler, module, name = load_handler(target)
        return serving(create_app(handler, module, name=name))

    return {"environ": environ, "seed": served(SEED), "noop": served(os.path.join(work, "noop.py:noop")),
            "echo": serving(echo)}


def _child(name: str, count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mlrun-bench-cost-") as work:
        os.chdir(work)
        os.environ["MLRUN_HOME"] = os.path.join(work, "home")
        call = _apps(work)[name]
        for _ in range(count):
            call()


def _instructions(name: str, count: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--child", name, str(count)]
    done = subprocess.run(command, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        sys.exit(f"valgrind run failed ({name}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests counted per app (default 200)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], int(args.child[1]))
    if not shutil.which("valgrind"):
        sys.exit("bench_serve_cost.py needs valgrind: apt-get install valgrind")

    cost = {}
    for name in ("environ", "seed", "noop", "echo"):
        total = _instructions(name, WARM + args.requests) - _instructions(name, WARM)
        cost[name] = total / args.requests / 1e6
    for name in ("seed", "noop", "echo"):
        cost[name] -= cost["environ"]
    print(f"millions of CPU instructions per request, in process ({args.requests} requests; "
          f"building the environ, {cost['environ']:.3f} M, taken off)")
    for label, name in (("mlrun serve, the seed's handler", "seed"), ("mlrun serve, a handler doing nothing", "noop"),
                        ("bare Flask echo", "echo")):
        print(f"  {label:38} {cost[name]:6.3f}")
    print(f"seed / echo: {cost['seed'] / cost['echo']:.2f}x   mlrun's frame over echo: "
          f"{cost['noop'] - cost['echo']:.3f} M   the seed's own work: {cost['seed'] - cost['noop']:.3f} M")


if __name__ == "__main__":
    main()
