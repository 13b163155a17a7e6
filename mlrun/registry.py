"""Plug points: one ``Registry`` type for data stores, run stores, runtimes and CLI commands.

Each entry maps a name (a URL scheme, a command; a tuple of names for aliases) to an object or its
``"module:attribute"`` path,
imported on first use (so ``import mlrun`` never pays for boto3, requests or flask), plus the pip
extra that provides its dependencies: a missing one is an ``ImportError`` that says what to install.
Third-party packages add entries through an entry-point group (``mlrun.datastores``,
``mlrun.run_stores``, ``mlrun.runtimes``, ``mlrun.commands``), read the first time a name is missing.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (2 ms: every run's store loads this module)
if TYPE_CHECKING:
    from typing import Any

#: this project's name on the package index (the import name and the command are ``mlrun``; the index's
#: ``mlrun`` is another project): every install hint and every look-up of the installed metadata uses it
DISTRIBUTION = "mlrun-lite"
#: the name as wheel and ``.dist-info`` file names spell it (``mlrun_lite-0.1.0-py3-none-any.whl``)
DISTRIBUTION_FILENAME = DISTRIBUTION.replace("-", "_")

#: the pip extra that provides each optional module (by its top-level name): what a bare
#: ``ModuleNotFoundError`` is turned into a hint with (``missing_extra``)
MODULE_EXTRAS = {
    "boto3": "s3", "botocore": "s3", "tqdm": "s3",
    "requests": "http", "urllib3": "http",
    "flask": "server", "werkzeug": "server", "waitress": "server", "jinja2": "server",
    "nuclio_sdk": "nuclio",
    "kfp": "kfp",
    "dask": "dask", "distributed": "dask",
    "psycopg": "postgres", "psycopg_pool": "postgres",
    "matplotlib": "plots",
    "sklearn": "sklearn", "joblib": "sklearn",
    "pandas": "data", "pyarrow": "data",
    "plotly": "plotly",
}


def install_hint(extra: str, quote: str = '"') -> str:
    """How to install the pip extra ``extra`` of mlrun: the one spelling every message uses."""
    return f"pip install {quote}{DISTRIBUTION}[{extra}]{quote}"


def missing_dependency(what: str, module: str | None, extra: str = "") -> ImportError:
    """The error for ``what`` lacking the module ``module``, naming the extra that provides it."""
    hint = f"; install it with: {install_hint(extra)}" if extra else ""
    return ImportError(f"{what} needs {module}{hint}")


def missing_extra(exc: ImportError, what: str) -> ImportError | None:
    """``exc`` (a module not found) as ``missing_dependency`` words it, if an extra provides that module; else None."""
    module = getattr(exc, "name", None)
    extra = MODULE_EXTRAS.get((module or "").split(".")[0])
    return missing_dependency(what, module, extra) if extra else None


def load(target: Any, what: str = "", extra: str = "") -> Any:
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
        if not what or exc.name is None:  # no name: the module said itself what is missing
            raise
        raise missing_dependency(what, exc.name, extra or MODULE_EXTRAS.get(exc.name.split(".")[0], "")) from exc


class Registry:
    """Names mapped to plug-ins (objects or ``"module:attribute"`` paths), each with its pip extra.

    ``what`` words the messages (``"the {name}:// data store"``); ``group`` is the entry-point group
    third parties declare entries in; ``lower`` folds names to lower case (URL schemes).
    """

    def __init__(self, what: str, group: str, entries: Mapping[str | tuple[str, ...], tuple[Any, str]] | None = None,
                 lower: bool = True):
        self.what, self.group, self.lower = what, group, lower
        self.entries: dict[str, tuple[Any, str]] = {}
        self.entry_points_loaded = False
        for names, (target, extra) in (entries or {}).items():
            for name in (names,) if isinstance(names, str) else names:
                self.register(name, target, extra)

    def key(self, name: str) -> str:
        return name.lower() if self.lower else name

    def register(self, name: str, target: Any, extra: str = "") -> None:
        """Serve ``name`` with ``target`` (an object or ``"module:attribute"``); ``extra`` provides its dependencies.

        A bare ``"module:"`` names the module's attribute called ``name`` (dashes as underscores).
        """
        if isinstance(target, str) and target.endswith(":"):
            target += name.replace("-", "_")
        self.entries[self.key(name)] = (target, extra)

    def load_entry_points(self) -> None:
        """Add the entries installed packages declare in the entry-point group (once; never overriding)."""
        if self.entry_points_loaded:
            return
        self.entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            self.entries.setdefault(self.key(ep.name), (ep.value, ""))

    def __contains__(self, name: str) -> bool:
        if self.key(name) not in self.entries:
            self.load_entry_points()
        return self.key(name) in self.entries

    def registered(self) -> list[str]:
        """The names registered in this process (built-in or by ``register``), without reading entry points."""
        return sorted(self.entries)

    def names(self) -> list[str]:
        """Every name known, entry points included, sorted."""
        self.load_entry_points()
        return sorted(self.entries)

    def get(self, name: str) -> Any:
        """The plug-in for ``name``, imported on first use (then kept); ``KeyError`` for an unknown name."""
        name = self.key(name)
        if name not in self:
            raise KeyError(name)
        target, extra = self.entries[name]
        target = load(target, self.what.format(name=name), extra)
        self.entries[name] = (target, extra)
        return target

    @contextmanager
    def saved(self) -> Iterator[Registry]:
        """Undo, on exit, whatever was registered inside (for tests)."""
        entries, loaded = dict(self.entries), self.entry_points_loaded
        try:
            yield self
        finally:
            self.entries.clear()
            self.entries.update(entries)
            self.entry_points_loaded = loaded
