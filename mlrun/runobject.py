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
        """Results and, by key, where each artifact went (a result wins over an artifact of the same key)."""
        outputs = {a["key"]: a.get("target_path", "") for a in self.status.output_artifacts}
        outputs.update(self.status.outputs)
        return outputs

    def output(self, key: str, default: Any = None) -> Any:
        """A result's value, else an artifact's target path, else ``default``."""
        return self.outputs.get(key, default)

    def artifact(self, key: str) -> dict | None:
        """The artifact entry logged as ``key`` (target_path, size, sha256, ...), ``None`` when there is none."""
        return next((dict(a) for a in self.status.output_artifacts if a.get("key") == key), None)

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


def _pairs(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
