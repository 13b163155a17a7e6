"""Finding a served model's file: a local file or folder, a URL, or a ``store://`` model URI.

Served, every place a model is read from must be allowed by the function's access policy, and no file
over the size limit is read: both are checked before a byte of the model moves.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInputError


def fetch_model(model_path: str, suffix: str = "", policy=None, limit: int = 0) -> tuple[str, Any, dict]:
    """``(local model file, model artifact or None, extra data items)`` for ``model_path``.

    A ``store://`` model URI is resolved through the run store to the file its artifact names (checked by
    ``policy`` like any path); ``policy``: what may be read (``None``: anything); ``limit``: the largest file
    in bytes (0: any).
    """
    from ..datastore import get_item

    if not model_path:
        raise InvalidInputError("the model has no model_path")
    item = get_item(model_path, policy=policy)
    folder = item.meta is None and os.path.isdir(item.store.local_path(item.path) or "")
    if item.meta is None and not folder:  # a model file
        _check_size(item, limit)
        return item.local(), None, {}
    from ..artifacts import get_model

    if item.meta is not None:  # a logged model: its file, its artifact and its extra data
        _check_size(item, limit)
        return get_model(item, suffix)
    found = get_model(item.url, suffix)  # a folder: its model_spec.yaml, else its one file ending in suffix
    _check_size(get_item(found[0], policy=policy), limit)
    return found


def _check_size(item, limit: int) -> None:
    if not limit:
        return
    size = item.stat().size
    if size is not None and size > limit:
        raise InvalidInputError(f"model {item.url} is {size} bytes, over the limit of {limit} "
                                "($MLRUN_SERVING_MAX_MODEL_SIZE)")


def model_location(model_path: str) -> str:
    """Where ``model_path`` is read from: a ``store://`` URI's artifact file (resolved through the run store),
    else the path itself."""
    if not model_path.startswith("store://"):
        return model_path
    from ..datastore import get_item

    return get_item(model_path).url
