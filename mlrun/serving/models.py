"""Finding a served model's file: a local file or folder, a URL, or a ``store://`` model URI.

Served, every place a model is read from must be allowed by the function's access policy, and no file
over the size limit is read: both are checked before a byte of the model moves.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidInputError, NotFoundError

STORE_PREFIX = "store://"


def fetch_model(model_path: str, suffix: str = "", policy=None, limit: int = 0) -> tuple[str, Any, dict]:
    """``(local model file, model artifact or None, extra data items)`` for ``model_path``.

    ``policy``: what may be read (``None``: anything); ``limit``: the largest file in bytes (0: any).
    """
    if not model_path:
        raise InvalidInputError("the model has no model_path")
    if model_path.startswith(STORE_PREFIX):
        return _stored_model(model_path, suffix, policy, limit)
    from ..datastore import get_item

    item = get_item(model_path, policy=policy)
    path = item.store.local_path(item.path)
    if path is not None and os.path.isdir(path):
        path = _file_in_folder(path, suffix)
        item = get_item(path, policy=policy)
    _check_size(item, limit)
    return item.local(), None, {}


def _stored_model(uri: str, suffix: str, policy, limit: int) -> tuple[str, Any, dict]:
    try:
        from ..artifacts import get_model
    except ImportError:
        raise InvalidInputError(f"{uri}: store:// model URIs need mlrun.artifacts.get_model") from None
    from ..datastore import get_item

    model_file, artifact, extra = get_model(uri, suffix=suffix)
    if policy is not None:  # where the artifact says it lives
        policy.check(str(_field(artifact, "target_path") or model_file), "read")
    _check_size(get_item(model_file, policy=policy), limit)
    return model_file, artifact, extra


def _field(artifact: Any, key: str) -> Any:
    if isinstance(artifact, dict):
        return artifact.get(key) or (artifact.get("spec") or {}).get(key)
    return getattr(artifact, key, None) or getattr(getattr(artifact, "spec", None), key, None)


def _file_in_folder(folder: str, suffix: str) -> str:
    """The one model file in ``folder`` ending in ``suffix`` (``model_spec.yaml`` and hidden files aside)."""
    names = sorted(n for n in os.listdir(folder) if n.endswith(suffix) and not n.startswith(".")
                   and n != "model_spec.yaml" and os.path.isfile(os.path.join(folder, n)))
    if len(names) != 1:
        found = ", ".join(names) if names else "none"
        raise NotFoundError(f"{folder}: expected one model file ending in {suffix!r}, found {found}")
    return os.path.join(folder, names[0])


def _check_size(item, limit: int) -> None:
    if not limit:
        return
    size = item.stat().size
    if size is not None and size > limit:
        raise InvalidInputError(f"model {item.url} is {size} bytes, over the limit of {limit} "
                                "($MLRUN_SERVING_MAX_MODEL_SIZE)")
