"""Small helpers 2019 run code and MLRun 1.x code import from ``mlrun.utils``: the names of spec fields
(``run_keys``) and dotted-path access to nested mappings (``get_in``, ``update_in``); ``in_notebook`` tells
whether tables should show as HTML.

    from mlrun.utils import run_keys, update_in
    spec = {}
    update_in(spec, f"spec.{run_keys.input_objects}", {"key": "infile.txt", "path": "s3://b/infile.txt"}, append=True)
    update_in(spec, "spec.parameters.p1", 8)

Nothing here imports more than the standard library's ``collections.abc``: ``import mlrun.utils`` stays cheap.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

__all__ = ["run_keys", "get_in", "update_in", "in_notebook"]


class run_keys:  # lower case: the name both the seed system and MLRun 1.x use
    """Names of run spec (and status) fields, as the record writes them.

    The seed system's names and MLRun 1.x's both name the field it has here: ``output_path`` is
    ``default_output_path``, ``inputs`` is ``input_objects``, ``artifacts`` is ``output_artifacts``.
    """

    parameters = "parameters"
    hyperparams = "hyperparams"
    hyper_options = "hyper_options"
    input_objects = "input_objects"
    inputs = "input_objects"
    output_path = "default_output_path"
    output_artifacts = "output_artifacts"
    artifacts = "output_artifacts"
    data_stores = "data_stores"
    secrets = "secret_sources"
    log_level = "log_level"
    runtime = "runtime"
    outputs = "outputs"
    metrics = "metrics"
    iterations = "iterations"
    state = "state"


def _parts(key: str | Sequence) -> list:
    if isinstance(key, str):
        return key.split(".") if key else []
    return list(key)


def get_in(obj: Any, key: str | Sequence, default: Any = None) -> Any:
    """The value at ``key`` in nested mappings: a dotted path (``'spec.parameters.p1'``) or a list of keys
    (``['status', 'outputs', 'a.b']`` for keys holding dots).  ``default`` when a step is missing or not a mapping.
    """
    for part in _parts(key):
        if not isinstance(obj, Mapping) or part not in obj:
            return default
        obj = obj[part]
    return obj


def update_in(obj: MutableMapping, key: str | Sequence, value: Any, append: bool = False) -> None:
    """Set the value at ``key`` (a dotted path or a list of keys) in ``obj``, creating missing mappings on the way.

    With ``append`` the value is appended to the list there (a new list when there is none).  A step that holds
    something other than a mapping is refused (``ValueError`` naming it): nothing is overwritten on the way.
    """
    parts = _parts(key)
    if not parts:
        raise ValueError("update_in needs a key")
    for depth, part in enumerate(parts[:-1]):
        child = obj.get(part) if isinstance(obj, Mapping) else None
        if child is None:
            child = obj[part] = {}
        elif not isinstance(child, MutableMapping):
            raise ValueError(f"update_in: {'.'.join(map(str, parts[:depth + 1]))} holds a "
                             f"{type(child).__name__}, not a mapping")
        obj = child
    last = parts[-1]
    if not append:
        obj[last] = value
        return
    items = obj.get(last)
    if items is None:
        obj[last] = [value]
    elif isinstance(items, list):
        items.append(value)
    else:
        raise ValueError(f"update_in: {'.'.join(map(str, parts))} holds a {type(items).__name__}, not a list")


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython loaded, and its shell runs in a kernel)."""
    ipython = sys.modules.get("IPython")  # a kernel has it loaded: never imported just to ask
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a half-initialised IPython is no notebook
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
