"""``store://`` URIs: artifacts named by project, key, tag and version, resolved through the run store.

    store://<kind>s/<project>/<key>[#<iteration>][:<tag>][@<uid>]

``<kind>s`` is ``artifacts``, ``datasets`` or ``models`` (``artifacts`` names an artifact of any kind);
``<tag>`` defaults to ``latest`` (the newest artifact of that key); ``@<uid>`` pins the version a run
produced (its tag is then only a reminder).  Every logged artifact records its URI (``uri``), so
``run.outputs[key]`` can hand it to the next run.  ``ArtifactStore`` (the ``store`` scheme of the data
store registry) reads such a URI: it finds the artifact entry through the run store API
(``RunDB.read_artifact``), then reads the file where the run stored it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from ..datastore.base import DataStore, FileStat
from ..errors import InvalidInputError, NotFoundError, StoreError
from .artifacts import DEFAULT_PROJECT
from .artifacts import LATEST as DEFAULT_TAG

SCHEME = "store"
#: the URI prefix of each artifact kind (every other kind is under ``artifacts``)
PREFIXES = {"dataset": "datasets", "model": "models"}


@dataclass
class StoreURI:
    """The parts of a ``store://`` URI (``parse`` reads one, ``str()`` writes it)."""

    prefix: str
    project: str
    key: str
    iteration: int = 0
    tag: str = ""
    tree: str = ""

    def __str__(self) -> str:
        return (f"{SCHEME}://{self.prefix}/{self.project}/{self.key}" + (f"#{self.iteration}" if self.iteration else "")
                + f":{self.tag or DEFAULT_TAG}" + (f"@{self.tree}" if self.tree else ""))

    @property
    def kind(self) -> str:
        """The artifact kind the prefix asks for; ``""``: any."""
        return next((kind for kind, prefix in PREFIXES.items() if prefix == self.prefix), "")


def prefix_of(kind: str) -> str:
    return PREFIXES.get(kind or "", "artifacts")


def store_uri(kind: str, project: str, key: str, iteration: int = 0, tag: str = "", tree: str = "") -> str:
    """The URI of an artifact entry: ``store://<kind>s/<project or default>/<key>[#iter]:<tag or latest>[@tree]``."""
    return str(StoreURI(prefix_of(kind), project or DEFAULT_PROJECT, key, iteration, tag, tree))


def parse(uri: str) -> StoreURI:
    """The parts of ``uri``; ``InvalidInputError`` naming it when it is no ``store://`` artifact URI."""
    if not isinstance(uri, str) or not uri.startswith(f"{SCHEME}://"):
        raise InvalidInputError(f"not a store:// URI: {uri!r}")
    prefix, _, rest = uri[len(SCHEME) + 3:].partition("/")
    project, _, rest = rest.partition("/")
    if prefix not in ("artifacts", *PREFIXES.values()) or not project or not rest:
        raise InvalidInputError(f"bad store URI {uri!r} (expected store://artifacts|datasets|models/<project>/<key>"
                                "[#<iteration>][:<tag>][@<uid>])")
    rest, tree = _cut(rest, "@")
    rest, tag = _cut(rest, ":")
    key, iteration = _cut(rest, "#")
    if iteration and not iteration.isdigit():
        raise InvalidInputError(f"bad store URI {uri!r}: the iteration after '#' must be a whole number")
    if not key:
        raise InvalidInputError(f"bad store URI {uri!r}: no artifact key")
    return StoreURI(prefix, project, key, int(iteration or 0), tag, tree)


def _cut(text: str, mark: str) -> tuple[str, str]:
    """``text`` split at its last ``mark`` when what follows holds no ``/`` (a key may hold any of them)."""
    head, found, tail = text.rpartition(mark)
    return (head, tail) if found and "/" not in tail else (text, "")


def resolve(uri: str, rundb=None) -> dict:
    """The artifact entry ``uri`` names (``list_artifacts``' form: the record's entry plus its run's ``uid``,
    ``project``, ``iteration``), from the run store ``rundb`` (a ``RunDB``, its URL, ``None``: the default one)."""
    from . import RunDB, get_run_db

    ref = parse(uri)
    db = rundb if isinstance(rundb, RunDB) else get_run_db(rundb)
    try:
        entry = db.read_artifact(ref.key, tag="" if ref.tree else ref.tag or DEFAULT_TAG, project=ref.project,
                                 iter=ref.iteration, uid=ref.tree, kind=ref.kind)
    except NotFoundError:
        raise NotFoundError(f"artifact {uri} not found in the run store") from None
    if not isinstance(entry.get("target_path"), str) or not entry["target_path"]:
        raise NotFoundError(f"artifact {uri} has no stored file (no target_path)")
    return entry


class ArtifactStore(DataStore):
    """The ``store://`` data store: reads the file an artifact URI names, through the run store.

    It is read-only: an artifact is written by logging it (``log_artifact``, ``log_dataset``, ``log_model``).
    ``rundb`` is the run store that resolves URIs (``None``: the default one, ``$MLRUN_DBPATH``).
    """

    scheme = SCHEME

    def __init__(self, netloc: str = "", secrets: Mapping | None = None, rundb=None):
        super().__init__(netloc, secrets)
        self.rundb = rundb
        self._targets: dict[str, tuple[dict, DataStore, str]] = {}

    def path_of(self, url: str) -> str:
        return url  # the whole URI: what ``resolve`` reads

    def resolve(self, uri: str) -> dict:
        """The artifact entry ``uri`` names (see ``resolve``), through this store's run store."""
        return resolve(uri, self.rundb)

    def url_of(self, path: str) -> str:
        return path

    def target(self, uri: str) -> tuple[dict, DataStore, str]:
        """``(entry, store, path)``: the artifact entry and where its file is (resolved once per URI)."""
        if uri not in self._targets:
            from ..datastore import get_store

            entry = resolve(uri, self.rundb)
            store = get_store(entry["target_path"], self.secrets)
            self._targets[uri] = (entry, store, store.path_of(entry["target_path"]))
        return self._targets[uri]

    def local_path(self, path: str) -> str | None:
        _, store, target = self.target(path)
        return store.local_path(target)

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        if "w" in mode:
            raise StoreError(f"cannot write to {path}: a store:// artifact is written by logging it")
        _, store, target = self.target(path)
        return store.open(target, mode)

    def read(self, path: str) -> tuple[bytes, FileStat | None]:
        _, store, target = self.target(path)
        return store.read(target)

    def stat(self, path: str) -> FileStat:
        _, store, target = self.target(path)
        return store.stat(target)

    def download(self, path: str, local_path: str) -> None:
        _, store, target = self.target(path)
        store.download(target, local_path)
