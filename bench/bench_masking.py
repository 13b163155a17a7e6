"""Masking cost: a 20 kB write through the process's masking stream, and a run record through
``mask_record``, with 0 (no masking), 16 and 4,096 registered secret values.

    python bench/bench_masking.py              # medians of 200 repetitions
    python bench/bench_masking.py --repeat 1000

Values are random tokens of 12 to 40 letters and digits (real credentials look so); the text is log
lines with a few of them in it.  Each figure is a median in milliseconds, with its ratio to the same
work with no value registered.  Above ``mlrun.secrets.MATCHER_THRESHOLD`` values one compiled matcher
(Aho-Corasick) finds them all in one pass: the cost must not grow with their number.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_server import timed  # noqa: E402

from mlrun import secrets  # noqa: E402


def tokens(count: int, rng: random.Random) -> list[str]:
    alphabet = string.ascii_letters + string.digits
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(12, 40))) for _ in range(count)]


def log_text(size: int, shown: list[str], rng: random.Random) -> str:
    words = ["the", "run", "read", "its", "input", "wrote", "an", "artifact", "loss", "accuracy", "epoch", "step",
             "0.93", "model", "saved", "to", "s3"]
    lines = []
    while sum(map(len, lines)) < size:
        line = " ".join(rng.choice(words) for _ in range(12))
        if shown and rng.random() < 0.02:
            line += " token=" + rng.choice(shown)
        lines.append(line + "\n")
    return "".join(lines)[:size]


def record_of(text: str) -> dict:
    lines = text.splitlines()
    return {"metadata": {"name": "bench", "uid": "0123456789abcdef0123456789abcdef", "iteration": 0},
            "spec": {"parameters": {f"p{i}": line for i, line in enumerate(lines[:50])}},
            "status": {"state": "completed", "outputs": {f"o{i}": line for i, line in enumerate(lines[50:100])}}}


def measure(values: list[str], text: str, repeat: int) -> tuple[float, float]:
    """Medians (ms) of one 20 kB write through a masking stream and of ``mask_record`` on a record."""
    secrets._registry.clear()
    secrets._requests_registry.clear()
    secrets._view = secrets._console_view = ([], frozenset(), [])
    if values:
        secrets._register(secrets._maskable(values))
    stream = secrets.MaskedStream(io.StringIO())
    record = record_of(text)
    store = secrets.SecretsStore()
    store.add_source("inline", {f"K{i}": v for i, v in enumerate(values)})
    stream.write(text)  # the matchers are built once, on first use
    store.mask_record(record)
    write = statistics.median(timed(lambda: (stream.write(text), stream.stream.seek(0), stream.stream.truncate()),
                                    repeat))
    masked = statistics.median(timed(lambda: store.mask_record(record), repeat))
    return write, masked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--size", type=int, default=20_000, help="bytes per write")
    args = parser.parse_args()
    rng = random.Random(7)
    values = tokens(4096, rng)
    text = log_text(args.size, values[:64], rng)
    base_write, base_record = measure([], text, args.repeat)
    print(f"{'registered values':>18}  {'20 kB write ms':>15}  {'ratio':>6}  {'mask_record ms':>15}  {'ratio':>6}")
    print(f"{0:>18}  {base_write:>15.4f}  {1:>6.1f}  {base_record:>15.4f}  {1:>6.1f}")
    for count in (16, 4096):
        write, record = measure(values[:count], text, args.repeat)
        print(f"{count:>18}  {write:>15.4f}  {write / base_write:>6.1f}  {record:>15.4f}  {record / base_record:>6.1f}")
    one_by_one = statistics.median(timed(lambda: _hide_one_by_one(text, values), max(5, args.repeat // 20)))
    print(f"4096 values looked for one by one (what one matcher replaces): {one_by_one:.2f} ms per 20 kB write")


def _hide_one_by_one(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, secrets.MASK)
    return text


if __name__ == "__main__":
    main()
