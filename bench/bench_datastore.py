"""Data movement: mlrun data items against raw boto3 and shutil, measured side by side.

    python bench/bench_datastore.py [--size-mb 256] [--repeat 6]

Starts a moto S3 server on 127.0.0.1 (its own process), writes a random file of SIZE MB, then
repeats, alternating which side goes first:

    s3 upload     mlrun  get_item("s3://b/k", secrets).upload(path)   vs  boto3 client.upload_file(path, b, k)
    s3 download   mlrun  get_item("s3://b/k", secrets).download(path) vs  boto3 client.download_file(b, k, path)
    local copy    mlrun  get_item(src).download(dst)                  vs  shutil.copyfile(src, dst)

Each transfer runs in a fresh process, so its peak RSS (imports included) is its own.  Times
cover the transfer only (client creation included, imports excluded).  Prints the median time,
throughput, the throughput ratio mlrun / baseline (target >= 0.9) and the median peak RSS
(target for mlrun <= 150 MB).  Needs ``pip install "mlrun-lite[s3]" "moto[server]"``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "bench"


# -- the measured side (a fresh process per transfer) ------------------------------------------
def worker(side: str, op: str, endpoint: str, src: str, dst: str) -> None:
    secrets = dict(CREDENTIALS, S3_ENDPOINT_URL=endpoint)
    if side == "mlrun":
        import mlrun.datastore.filestore  # noqa: F401 - the store modules get_item would import on first use
        import mlrun.datastore.s3  # noqa: F401
        from mlrun.datastore import get_item
    elif op != "copy":
        import boto3
    start = time.perf_counter()
    if side == "mlrun":
        if op == "upload":
            get_item(dst, secrets).upload(src)
        else:  # download from S3, or a local copy: the same call
            get_item(src, secrets).download(dst)
    elif op == "copy":
        shutil.copyfile(src, dst)
    else:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        if op == "upload":
            client.upload_file(src, BUCKET, dst.split("/", 3)[3])
        else:
            client.download_file(BUCKET, src.split("/", 3)[3], dst)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def measure(side: str, op: str, endpoint: str, src: str, dst: str) -> dict:
    os.sync()  # neither side pays for writing back what the previous one left in the page cache
    out = subprocess.run([sys.executable, __file__, "--worker", side, op, endpoint, src, dst],
                         capture_output=True, text=True, env={**os.environ, "MLRUN_PROGRESS": "0"})
    if out.returncode != 0:
        raise SystemExit(f"{side} {op} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the driver ---------------------------------------------------------------------------------
def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return proc, endpoint
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                break
            time.sleep(0.1)  # polling for the port to open
    proc.kill()
    raise SystemExit("moto server did not start (pip install 'moto[server]')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=6, help="an even count gives each side first place equally")
    args = parser.parse_args()

    proc, endpoint = start_moto()
    work = tempfile.mkdtemp(prefix="mlrun-bench-")
    try:
        src = os.path.join(work, "src.bin")
        with open(src, "wb") as fp:
            for _ in range(args.size_mb):
                fp.write(os.urandom(1024 * 1024))
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        client.create_bucket(Bucket=BUCKET)
        client.upload_file(src, BUCKET, "source.bin")

        cases = {
            "s3 upload": lambda side: (src, f"s3://{BUCKET}/up-{side}.bin"),
            "s3 download": lambda side: (f"s3://{BUCKET}/source.bin", os.path.join(work, f"down-{side}.bin")),
            "local copy": lambda side: (src, os.path.join(work, f"copy-{side}.bin")),
        }
        ops = {"s3 upload": "upload", "s3 download": "download", "local copy": "copy"}
        results = {(case, side): [] for case in cases for side in ("mlrun", "baseline")}
        for rep in range(args.repeat):
            for case, paths in cases.items():
                order = ("mlrun", "baseline") if rep % 2 == 0 else ("baseline", "mlrun")
                for side in order:
                    a, b = paths(side)
                    results[case, side].append(measure(side, ops[case], endpoint, a, b))
                    if not b.startswith("s3://"):
                        os.remove(b)
            print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.size_mb} MB, {args.repeat} repetitions, medians (moto S3 server on 127.0.0.1)\n")
    header = f"{'transfer':<12} {'side':<16} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    baselines = {"s3 upload": "boto3 upload_file", "s3 download": "boto3 download_file",
                 "local copy": "shutil.copyfile"}
    for case in cases:
        speeds = {}
        for side in ("mlrun", "baseline"):
            runs = results[case, side]
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = statistics.median(r["peak_mb"] for r in runs)
            speeds[side] = args.size_mb / seconds
            ratio = f"{speeds['mlrun'] / speeds['baseline']:.2f}x" if side == "baseline" else ""
            name = "mlrun data item" if side == "mlrun" else baselines[case]
            print(f"{case:<12} {name:<16.16} {seconds:>8.3f} {speeds[side]:>8.1f} {peak:>12.1f} {ratio:>6}")
    print("\nratio: mlrun throughput / baseline throughput (target >= 0.9x); mlrun peak RSS target <= 150 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:7])
    else:
        main()
