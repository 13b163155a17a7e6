"""Plug points named by ``"module:attribute"`` paths, imported on first use.

Data stores, run stores, runtimes and CLI commands are registered this way, so ``import mlrun``
never pays for boto3, requests or flask, and a missing optional dependency says what to install.
"""
from __future__ import annotations


def load(target, what: str = "", extra: str = ""):
    """``target`` itself, or the object its ``"module:attribute"`` path names.

    A missing dependency becomes an ``ImportError`` naming ``what`` needs it and the pip extra
    (``extra``) that provides it.
    """
    if not isinstance(target, str):
        return target
    import importlib

    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        if not what:
            raise
        hint = f'; install it with: pip install "mlrun[{extra}]"' if extra else ""
        raise ImportError(f"{what} needs {exc.name}{hint}") from exc
