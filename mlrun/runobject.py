"""Run objects: what ``run_start`` / ``run_local`` return, a finished run to read.

    run = mlrun.run_start(spec, handler=my_func)
    run.status.state, run.output("accuracy"), run.outputs, run.uid
    run["status"]["outputs"]                     # as July 2019 code reads it

A ``RunObject`` wraps the final ``RunRecord`` (secrets already hidden): ``.metadata``, ``.spec`` and ``.status``
read its fields as attributes (``status.results`` and ``status.artifacts`` are MLRun 1.x's names of
``outputs`` and ``output_artifacts``); indexing reads the record's mapping.  In a notebook it shows as a table.
"""
from __future__ import annotations

from typing import Any

from .model import RunRecord

#: MLRun 1.x's names of record fields
_ALIASES = {"results": "outputs", "artifacts": "output_artifacts"}


class Section:
    """One section of a run record (``metadata``, ``spec``, ``status``), read as attributes or as a mapping."""

    def __init__(self, data: dict):
        self._data = data

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("_data", {})
        name = _ALIASES.get(name, name)
        if name in data:
            return data[name]
        raise AttributeError(f"no field {name!r} (fields: {', '.join(data)})")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other) -> bool:
        return self._data == (other._data if isinstance(other, Section) else other)

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self):
        return self._data.keys()

    def items(self):
        return self._data.items()

    def to_dict(self) -> dict:
        return self._data

    def __repr__(self) -> str:
        return repr(self._data)


class RunObject(Section):
    """A finished run (see the module's text): the record's sections as attributes, the record as a mapping."""

    def __init__(self, record: RunRecord):
        super().__init__(record.to_dict())
        self.record = record
        self.metadata = Section(self._data["metadata"])
        self.spec = Section(self._data["spec"])
        self.status = Section(self._data["status"])
        self.uid: str = record.uid
        #: why the run failed; ``""`` when it did not
        self.error: str = record.status.error

    def state(self) -> str:
        """The run's state (``status.state``), as MLRun 1.x asks for it."""
        return self.status.state

    @property
    def outputs(self) -> dict:
        """Results and, by key, each artifact's ``store://`` URI (its target path for an entry without one, as
        records from before URIs have); a result wins over an artifact of the same key."""
        outputs = {a["key"]: a.get("uri") or a.get("target_path", "") for a in self.status.output_artifacts}
        outputs.update(self.status.outputs)
        return outputs

    def output(self, key: str, default: Any = None) -> Any:
        """A result's value, else an artifact's ``store://`` URI, else ``default``."""
        return self.outputs.get(key, default)

    def artifact(self, key: str) -> ArtifactEntry | None:
        """The artifact logged as ``key``: its entry (``['target_path']``, ``['sha256']``, ...) that reads as a data
        item too (``.as_df()``, ``.get()``, ``.local()``, ``.show()``); ``None`` when there is none."""
        return next((ArtifactEntry(a) for a in self.status.output_artifacts if a.get("key") == key), None)

    def to_dict(self) -> dict:
        return self.record.to_dict()

    def to_yaml(self) -> str:
        return self.record.to_yaml()

    def to_json(self) -> str:
        return self.record.to_json()

    def __eq__(self, other) -> bool:
        return isinstance(other, RunObject) and self._data == other._data

    __hash__ = None

    def __repr__(self) -> str:
        outputs = ", ".join(f"{k}={v!r}" for k, v in list(self.status.outputs.items())[:8])
        error = f" error={self.status.error!r}" if self.status.error else ""
        return (f"<RunObject {self.metadata.name or '?'} uid={self.uid} iteration={self.metadata.iteration} "
                f"state={self.status.state}{error} outputs: {outputs or '-'}>")

    def _repr_html_(self) -> str:
        """A table of the run for notebooks: every value escaped."""
        from html import escape

        status = self.status
        rows = [("name", self.metadata.name), ("uid", self.uid), ("project", self.metadata.project),
                ("state", status.state), ("error", status.error), ("start", status.start_time),
                ("parameters", _pairs(self.spec.parameters)), ("results", _pairs(status.outputs)),
                ("metrics", ", ".join(status.metrics)),
                ("artifacts", ", ".join(f"{a.get('key')} ({a.get('target_path', '')})"
                                        for a in status.output_artifacts)),
                ("labels", _pairs(self.metadata.labels))]
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
                       for k, v in rows if v not in ("", None))
        return f"<table class='mlrun-run'>{body}</table>"


class ArtifactEntry(dict):
    """An artifact's record entry (a mapping, as ``run.artifact(key)`` always was) that also reads the artifact's
    file as a data item does: ``.as_df()``, ``.local()``, ``.open()``, ``.show()``, ``.url``, ``.meta`` (the entry).

    ``.get()`` with no key reads the content (``.get(encoding='utf-8')``: text); ``.get(field, default)`` reads a
    field of the entry, as on any mapping.
    """

    _NO_KEY = object()

    def get(self, key: Any = _NO_KEY, default: Any = None, encoding: str | None = None) -> Any:
        if key is ArtifactEntry._NO_KEY:
            return self.item().get(encoding)
        return super().get(key, default)

    def item(self):
        """The data item of the artifact's file (its entry as ``.meta``)."""
        item = self.__dict__.get("_item")
        if item is None:
            from .datastore import get_item

            item = self.__dict__["_item"] = get_item(self["target_path"])
            item.meta, item.artifact_url = dict(self), self.get("uri", "") or item.url
        return item

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.item(), name)


def _pairs(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
