"""Run a Markdown document's shell and Python blocks in order, as a reader pastes them (README.md, docs/**.md).

A document's blocks run in bash (a Python block as a file run by ``python``) in one temporary folder, empty
unless the document asks for copies of repository folders (``copies``), with this virtualenv first on ``PATH``
and a fresh ``MLRUN_HOME``; variables a block exports are kept for the next ones, as in one shell session.
Each block must exit 0. Fences are always tagged (``bash``, ``python``, ``yaml``, ``text``...); only ``bash``
and ``python`` blocks run. A comment on the line right above a fence tells the runner what the block needs
(``docs-test``; README.md's older spelling ``readme-test`` means the same, but its ``save-as`` block also runs):

    <!-- docs-test: skip: WHY -->            not run (installs, long-running servers, other machines)
    <!-- docs-test: save-as NAME -->         the block (any language) saved as the file NAME, not run itself
    <!-- docs-test: fails: WHY -->           shows an error on purpose: must exit non-zero
    <!-- docs-test: needs moto, ... -->      a moto S3 server; ``http://127.0.0.1:9000`` is rewritten to it
    <!-- docs-test: needs mlrun-serve -->   the previous (skipped) block's ``mlrun serve`` command, started
                                            on a free port in place of 8080 (with moto: the server's address
                                            in place of http://127.0.0.1:9000), stopped after this block
    <!-- docs-test: needs mlrun-server -->  the last ``mlrun server`` command above (a skipped block's first line)
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

MARKER = re.compile(r"<!--\s*(readme|docs)-test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^(\s*)```([^`\s]*)\s*$")
RUN_LANGUAGES = {"bash", "python"}
NEEDS = {"moto", "mlrun-serve", "mlrun-server"}
KNOWN_MARKER = re.compile(r"(skip|fails): \S|save-as \S+$|needs \S")


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str = ""
    spelling: str = "docs"  # the marker's: "docs" or README.md's older "readme"
    needs: set = field(default_factory=set)

    @property
    def skipped(self) -> bool:
        return self.marker.startswith("skip:")

    @property
    def saved_as(self) -> str:
        return self.marker[len("save-as "):] if self.marker.startswith("save-as ") else ""

    @property
    def runs(self) -> bool:
        if self.skipped or self.language not in RUN_LANGUAGES:
            return False
        return not self.saved_as or (self.spelling == "readme" and self.language == "python")


def document_blocks(path: str | Path) -> list[Block]:
    """Every fenced block of a Markdown document (fences indented in admonitions and tabs too, their text
    dedented), with the marker comment right above it (if any)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent = i, len(m.group(1))
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        marker = MARKER.search(lines[start - 1]) if start else None
        text = "\n".join(line[indent:] for line in lines[start + 1:end]) + "\n"
        block = Block(start + 1, m.group(2), text, marker.group(2) if marker else "",
                      marker.group(1) if marker else "docs")
        if block.marker.startswith("needs "):
            block.needs = {w.strip() for w in re.sub(r"\(.*?\)", "", block.marker[6:]).split(",")}
        blocks.append(block)
        i = end + 1
    return blocks


def block_problems(path: str | Path) -> list[str]:
    """What is wrong with a document's fences and markers: untagged fences, unknown markers or needs."""
    name = os.path.relpath(path, ROOT)
    problems = [f"{name}:{b.line}: a fence without a language (bash, python, yaml, text...)"
                for b in document_blocks(path) if not b.language]
    for b in document_blocks(path):
        if b.marker and not KNOWN_MARKER.match(b.marker):
            problems.append(f"{name}:{b.line}: unknown marker {b.marker!r}")
        if b.needs - NEEDS:
            problems.append(f"{name}:{b.line}: unknown needs {sorted(b.needs - NEEDS)} (known: {sorted(NEEDS)})")
    return problems


def _first_command(block: Block) -> str:
    return next(ln for ln in block.text.splitlines() if ln.strip() and not ln.startswith("#")).split("#")[0].strip()


def run_document(path: str | Path, tmp_path: Path, copies: tuple[str, ...] = ()) -> list[int]:
    """Run the document's blocks in order in ``tmp_path/reader`` (holding copies of the repository's folders
    ``copies``, else empty); fail on the first block that exits as it should not. The lines of the blocks run."""
    name = os.path.relpath(path, ROOT)
    blocks = document_blocks(path)
    work = tmp_path / "reader"
    work.mkdir(parents=True)
    for folder in copies:
        shutil.copytree(os.path.join(ROOT, folder), work / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_", "AWS_", "S3_"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               MLRUN_HOME=str(tmp_path / "home"), AWS_EC2_METADATA_DISABLED="true")
    session = tmp_path / "session.sh"  # what the blocks export, as one shell session would keep it
    session.write_text("")
    ran = []
    with ExitStack() as servers:
        moto = server_url = None
        for n, block in enumerate(blocks):
            if block.saved_as:
                (work / block.saved_as).write_text(block.text)
            if not block.runs:
                continue
            text = block.text
            if "moto" in block.needs:
                if moto is None:
                    moto = servers.enter_context(running_moto_server(log_dir=str(tmp_path)))
                text = text.replace("http://127.0.0.1:9000", moto.endpoint_url)
            if "mlrun-server" in block.needs:
                if server_url is None:
                    server_url = servers.enter_context(_mlrun_server(name, blocks[:n], block, work, env, tmp_path))
                text = text.replace("http://runs.example.com:8080", server_url)
                text = text.replace("http://127.0.0.1:8080", server_url)
            with ExitStack() as serving:
                if "mlrun-serve" in block.needs:
                    url = serving.enter_context(_mlrun_serve(blocks[n - 1], work, env, tmp_path, moto))
                    text = text.replace("http://127.0.0.1:8080", url)
                script = work / (block.saved_as or f".block{block.line}.py")
                if block.language == "python":
                    script.write_text(text)
                    text = f"python {script.name}\n"
                try:
                    script_text = f". {session}\nset -eo pipefail\n{text}\nexport -p > {session}\n"
                    proc = subprocess.run(["bash", "-c", script_text], cwd=work, env=env, capture_output=True,
                                          text=True, timeout=300)
                finally:
                    if block.language == "python" and not block.saved_as:
                        script.unlink(missing_ok=True)  # the reader's folder holds only what the blocks make
            out = f"{name}:{block.line} ({block.language}) exited {proc.returncode}\n{block.text}\n--- stdout\n" \
                  f"{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
            if block.marker.startswith("fails:"):
                assert proc.returncode != 0, out
            else:
                assert proc.returncode == 0, out
            ran.append(block.line)
    return ran


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
    """The document's own ``mlrun serve`` (or ``serve-model``) command (the previous block's), on a free port (and
    the moto server's address for ``http://127.0.0.1:9000``)."""
    command = _first_command(previous)
    assert command.startswith(("mlrun serve ", "mlrun serve-model ")) and "8080" in command, (previous.line, command)
    if moto is not None:
        command = command.replace("http://127.0.0.1:9000", moto.endpoint_url)
    port = free_port()
    return _started(command.replace("8080", str(port)), f"http://127.0.0.1:{port}", work, env,
                    tmp_path / f"serve-{port}.log")


def _mlrun_server(name: str, above: list[Block], block: Block, work, env: dict, tmp_path) -> _started:
    """The document's own ``mlrun server`` command (the first line of the last skipped block above that starts
    with one), on a free port."""
    commands = [_first_command(b) for b in above if b.skipped and b.language == "bash"]
    command = next((c for c in reversed(commands) if c.startswith("mlrun server")), "")
    assert command, f"no skipped block starting with 'mlrun server' above {name}:{block.line}"
    port = free_port()
    server_env = dict(env)
    token = re.search(r"MLRUN_TOKEN=(\S+?)[,)\s]", block.marker + " ")
    if token:
        server_env["MLRUN_TOKEN"] = token.group(1)
    command = command.replace("8080", str(port)) if "8080" in command else f"{command} --port {port}"
    return _started(command, f"http://127.0.0.1:{port}", work, server_env, tmp_path / f"server-{port}.log")
