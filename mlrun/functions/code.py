"""A function's code: read from a ``.py`` file or a notebook's code cells, embedded as base64 (as MLRun 1.x keeps
it in ``spec.build.functionSourceCode``), written out for a child process, loaded as a module.

Notebook cells follow MLRun 1.x's markers: a cell with a ``# mlrun: ignore`` line is left out; when a cell holds
``# mlrun: start-code`` only the code after it counts, up to a ``# mlrun: end-code`` line; shell and magic lines
(``!pip ...``, ``%matplotlib``) are kept as comments.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import types

from ..errors import MLRunInvalidArgumentError

MARKER = "# mlrun:"


def read_code(filename: str) -> str:
    """The code of a ``.py`` file, or of a notebook's code cells (``.ipynb``); a clear error for anything else."""
    if not os.path.isfile(filename):
        raise MLRunInvalidArgumentError(f"code file not found: {filename}")
    if filename.endswith(".ipynb"):
        return notebook_code(filename)
    if not filename.endswith(".py"):
        raise MLRunInvalidArgumentError(f"code must be a .py file or a notebook (.ipynb), got {filename}")
    with open(filename, encoding="utf-8") as fp:
        return fp.read()


def notebook_code(filename: str) -> str:
    """The code cells of a notebook joined into one Python text, MLRun's markers honoured (see the module)."""
    try:
        with open(filename, encoding="utf-8") as fp:
            notebook = json.load(fp)
        cells = notebook["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise MLRunInvalidArgumentError(f"{filename} is not a notebook: {exc}") from None
    code_cells = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            source = cell.get("source") or ""
            code_cells.append((source if isinstance(source, str) else "".join(source)).splitlines())
    # with a start-code marker anywhere, nothing before it counts
    inside = not any(_marker(line) == "start-code" for lines in code_cells for line in lines)
    chunks = []
    for lines in code_cells:
        if any(_marker(line) == "ignore" for line in lines):
            continue
        kept = []
        for line in lines:
            marker = _marker(line)
            if marker == "start-code":
                inside, kept = True, []
            elif marker == "end-code":
                inside = False
                break
            elif inside:
                kept.append("# " + line if line.lstrip().startswith(("!", "%")) else line)
        chunks.append("\n".join(kept))
        if not inside and any(_marker(line) == "end-code" for line in lines):
            break
    return "\n\n".join(c for c in chunks if c.strip()) + "\n"


def _marker(line: str) -> str:
    text = line.strip()
    return text[len(MARKER):].strip().lower() if text.lower().startswith(MARKER) else ""


def encode_code(code: str) -> str:
    return base64.b64encode(code.encode("utf-8")).decode("ascii")


def decode_code(text: str) -> str:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise MLRunInvalidArgumentError(f"spec.build.functionSourceCode is not base64 text of Python code: {exc}") \
            from None


def code_file(code: str, name: str) -> str:
    """A file holding ``code`` (for a child process): ``$MLRUN_HOME``'s functions folder, named by its hash,
    written once (whole or not at all)."""
    from ..config import home_dir

    digest = hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]
    stem = "".join(c if c.isalnum() else "_" for c in name) or "function"
    path = os.path.join(home_dir(), "functions", f"{stem}_{digest}.py")
    if not os.path.isfile(path):
        write_text(path, code)
    return path


def write_text(target: str, text: str, secrets=None) -> None:
    """Write ``text`` to ``target`` (a local path, its folder made, or a data store URL), whole or not at all."""
    from ..datastore import get_item

    if "://" not in target:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    get_item(target, secrets).put(text)


def load_module(code: str, name: str, origin: str = "") -> types.ModuleType:
    """``code`` run as a new module named ``name`` (its ``__file__``: ``origin`` when the code came from a file,
    whose folder is then first on ``sys.path`` for its neighbours)."""
    from ..errors import MLRunError, error_message

    module = types.ModuleType(name)
    module.__file__ = origin or f"<function {name}>"
    if origin and os.path.dirname(os.path.abspath(origin)) not in sys.path:
        sys.path.insert(0, os.path.dirname(os.path.abspath(origin)))
    try:
        exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the user's own function code
    except Exception as exc:
        raise MLRunError(f"cannot load the code of function {name!r}: {error_message(exc)}") from None
    return module
