"""The README's shell and Python blocks, run in order as a reader pastes them, in one empty directory.

A block runs in bash (Python blocks as a file run by ``python``) in a temporary directory holding copies of the
repository's ``examples/`` and ``handlers/``, with this virtualenv first on ``PATH`` and a fresh ``MLRUN_HOME``;
variables a block exports are kept for the next ones, as in one shell session. Each block must exit 0.
A comment on the line right above a block's fence tells this test what the block needs:

    <!-- readme-test: skip: WHY -->            not run (installs, long-running servers, other machines)
    <!-- readme-test: save-as NAME -->         a Python block saved as NAME (later blocks run it)
    <!-- readme-test: fails: WHY -->           shows an error on purpose: must exit non-zero
    <!-- readme-test: needs moto, ... -->      a moto S3 server; ``http://127.0.0.1:9000`` is rewritten to it
    <!-- readme-test: needs mlrun-serve -->   the previous (skipped) block's ``mlrun serve`` command, started
                                              on a free port in place of 8080 (with moto: the server's address
                                              in place of http://127.0.0.1:9000), stopped after this block
    <!-- readme-test: needs mlrun-server -->  the last ``mlrun server`` command above (a skipped block's first line)
                                              on a free port (``MLRUN_TOKEN=X`` in the comment: with that
                                              token), kept for later blocks; ``http://127.0.0.1:8080``
                                              and ``http://runs.example.com:8080`` are rewritten to it
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from helpers import ROOT, free_port, stop_process, wait_for_http
from s3server import running_moto_server

README = os.path.join(ROOT, "README.md")
MARKER = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
RUN_LANGUAGES = {"bash", "python"}
# blocks known to fail because of a bug outside the README, by line of the fence: {line: "what fails and why"}
KNOWN_FAILURES: dict[int, str] = {}


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str = ""
    needs: set = field(default_factory=set)

    @property
    def skipped(self) -> bool:
        return self.marker.startswith("skip:")


def readme_blocks(path: str = README) -> list[Block]:
    """Every fenced block of the README, with the readme-test marker right above it (if any)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        marker = MARKER.search(lines[start - 1]) if start else None
        block = Block(start + 1, m.group(1), "\n".join(lines[start + 1:end]) + "\n", marker.group(1) if marker else "")
        if block.marker.startswith("needs "):
            block.needs = {w.strip() for w in re.sub(r"\(.*?\)", "", block.marker[6:]).split(",")}
        blocks.append(block)
        i = end + 1
    return blocks


def test_readme_fences_are_tagged():
    """Commands are ``bash``/``python``; samples, outputs and tables say what they are (``text``, ``yaml``...)."""
    assert [b.line for b in readme_blocks() if not b.language] == []


def test_readme_markers_are_known():
    for block in readme_blocks():
        if block.marker:
            assert re.match(r"(skip|fails): \S|save-as \S+$|needs ", block.marker), (block.line, block.marker)
        assert block.needs <= {"moto", "mlrun-serve", "mlrun-server"}, (block.line, block.needs)


def _first_command(block: Block) -> str:
    return next(ln for ln in block.text.splitlines() if ln.strip() and not ln.startswith("#")).split("#")[0].strip()


def test_readme_blocks_run_as_pasted(tmp_path):
    blocks = readme_blocks()
    work = tmp_path / "reader"
    work.mkdir()
    for folder in ("examples", "handlers"):
        shutil.copytree(os.path.join(ROOT, folder), work / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_", "AWS_", "S3_"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               MLRUN_HOME=str(tmp_path / "home"), AWS_EC2_METADATA_DISABLED="true")
    session = work / ".readme-env.sh"  # what the blocks export, as one shell session would keep it
    session.write_text("")
    ran = []
    with ExitStack() as servers:
        moto = server_url = None
        for n, block in enumerate(blocks):
            if block.language not in RUN_LANGUAGES or block.skipped:
                continue
            text = block.text
            if "moto" in block.needs:
                if moto is None:
                    moto = servers.enter_context(running_moto_server(log_dir=str(tmp_path)))
                text = text.replace("http://127.0.0.1:9000", moto.endpoint_url)
            if "mlrun-server" in block.needs:
                if server_url is None:
                    server_url = servers.enter_context(_mlrun_server(blocks[:n], block, work, env, tmp_path))
                text = text.replace("http://runs.example.com:8080", server_url)
                text = text.replace("http://127.0.0.1:8080", server_url)
            with ExitStack() as serving:
                if "mlrun-serve" in block.needs:
                    url = serving.enter_context(_mlrun_serve(blocks[n - 1], work, env, tmp_path, moto))
                    text = text.replace("http://127.0.0.1:8080", url)
                if block.language == "python":
                    saved = block.marker.startswith("save-as ")
                    name = block.marker[len("save-as "):] if saved else f".block{block.line}.py"
                    (work / name).write_text(text)
                    text = f"python {name}\n"
                script = f". {session}\nset -eo pipefail\n{text}\nexport -p > {session}\n"
                proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                                      timeout=300)
            out = f"README.md:{block.line} ({block.language}) exited {proc.returncode}\n{block.text}\n--- stdout\n" \
                  f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            if block.marker.startswith("fails:") or block.line in KNOWN_FAILURES:
                assert proc.returncode != 0, out + KNOWN_FAILURES.get(block.line, "")
            else:
                assert proc.returncode == 0, out
            ran.append(block.line)
    assert len(ran) >= 10, ran  # the markers must not quietly skip the README away


class _started:
    """A server process started by bash in the reader's directory; the context value is its URL."""

    def __init__(self, command: str, url: str, cwd, env: dict, log_path):
        self.command, self.url, self.cwd, self.env, self.log_path = command, url, cwd, env, log_path

    def __enter__(self) -> str:
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(["bash", "-c", "exec " + self.command], cwd=self.cwd, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(self.url + "/", self.proc)
        except (RuntimeError, TimeoutError) as exc:
            stop_process(self.proc)
            raise AssertionError(f"{self.command}: {exc}\n{open(self.log_path).read()}") from None
        return self.url

    def __exit__(self, *exc) -> None:
        stop_process(self.proc)


def _mlrun_serve(previous: Block, work, env: dict, tmp_path, moto=None) -> _started:
    """The README's own ``mlrun serve`` command (the previous block's), on a free port (and the moto server's
    address for ``http://127.0.0.1:9000``)."""
    command = _first_command(previous)
    assert command.startswith("mlrun serve ") and "8080" in command, (previous.line, command)
    if moto is not None:
        command = command.replace("http://127.0.0.1:9000", moto.endpoint_url)
    port = free_port()
    return _started(command.replace("8080", str(port)), f"http://127.0.0.1:{port}", work, env,
                    tmp_path / f"serve-{port}.log")


def _mlrun_server(above: list[Block], block: Block, work, env: dict, tmp_path) -> _started:
    """The README's own ``mlrun server`` command (the first line of the last skipped block above that starts with
    one), on a free port."""
    commands = [_first_command(b) for b in above if b.skipped and b.language == "bash"]
    command = next((c for c in reversed(commands) if c.startswith("mlrun server")), "")
    assert command, f"no skipped block starting with 'mlrun server' above README.md:{block.line}"
    port = free_port()
    server_env = dict(env)
    token = re.search(r"MLRUN_TOKEN=(\S+?)[,)\s]", block.marker + " ")
    if token:
        server_env["MLRUN_TOKEN"] = token.group(1)
    command = command.replace("8080", str(port)) if "8080" in command else f"{command} --port {port}"
    return _started(command, f"http://127.0.0.1:{port}", work, server_env, tmp_path / f"server-{port}.log")
