"""The run record: ``metadata`` / ``spec`` / ``status``, as the YAML every run leaves behind.

Records are plain data: ``to_dict`` gives only YAML/JSON-safe builtins and
``RunRecord.from_dict(record.to_dict()) == record`` always holds.  Loading validates
field names and types, so a bad spec fails with the offending field named.
"""
from __future__ import annotations

import functools
import json
import re

from .errors import InvalidSpecError

RUN_STATES = ("created", "running", "completed", "error")
#: hyper-parameter iterations are numbered 1..MAX_ITERATION (0 is the run itself)
MAX_ITERATION = 2**31 - 1
#: uids name files and store keys: ASCII letters, digits, '_', '-' and '.', not starting with '.' or '-'
_UID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_uid(uid: str, field: str = "uid") -> str:
    """``uid`` itself when it can name a file and a store key; ``InvalidSpecError`` naming ``field`` otherwise."""
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise InvalidSpecError(f"{field} {uid!r}: use letters, digits, '_', '-' and '.' only "
                               "(at most 128, not starting with '.' or '-')", field)
    return uid


def check_iteration(iteration: int, field: str = "iteration") -> int:
    """``iteration`` itself when it is a whole number from 0 to ``MAX_ITERATION``."""
    if isinstance(iteration, bool) or not isinstance(iteration, int) or not 0 <= iteration <= MAX_ITERATION:
        raise InvalidSpecError(f"{field} must be a whole number from 0 to {MAX_ITERATION}, got {iteration!r}", field)
    return iteration


_utc_now = None


def now_iso() -> str:
    """The current time, ISO-8601 with the UTC offset."""
    global _utc_now
    if _utc_now is None:  # datetime is imported on first use: it would cost ``import mlrun`` a tenth
        from datetime import datetime, timezone

        _utc_now = functools.partial(datetime.now, timezone.utc)
    return _utc_now().isoformat()


_yaml_codec: tuple = ()


def _codec() -> tuple:
    """(dumper, loader) classes, built on first use: PyYAML is imported only when YAML is needed."""
    global _yaml_codec
    if not _yaml_codec:
        import yaml

        try:  # libyaml makes large records (long metric histories) several times faster
            from yaml import CSafeDumper as Dumper, CSafeLoader as Loader
        except ImportError:  # pragma: no cover - PyYAML built without libyaml
            from yaml import SafeDumper as Dumper, SafeLoader as Loader

        class RecordDumper(Dumper):
            """Mappings as blocks, lists of scalars inline (``xvalues: ['1', '2', '3']``), as in the seed's records."""

        def represent_list(dumper, data):
            flat = all(isinstance(v, (str, int, float, bool)) or v is None for v in data)
            return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)

        RecordDumper.add_representer(list, represent_list)
        _yaml_codec = (RecordDumper, Loader)
    return _yaml_codec


def dump_yaml(data) -> str:
    import yaml

    return yaml.dump(data, Dumper=_codec()[0], default_flow_style=False, sort_keys=False, allow_unicode=True)


def load_yaml(text: str | bytes) -> object:
    import yaml

    return yaml.load(text, Loader=_codec()[1])


def parse_struct(text: str | bytes, what: str = "spec") -> dict:
    """Parse JSON or YAML text into a mapping; a one-line ``InvalidSpecError`` otherwise."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSpecError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise InvalidSpecError(f"{what} is empty")
    try:
        if stripped[0] in "{[":
            try:
                data = json.loads(stripped)
            except ValueError:
                data = _load_yaml_or_fail(stripped, what)
        else:
            data = _load_yaml_or_fail(stripped, what)
    except RecursionError:  # thousands of brackets (a hostile request body): a bad spec, not a crash
        raise InvalidSpecError(f"{what} is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidSpecError(f"{what} must be a mapping, got {type(data).__name__}")
    return data


def _load_yaml_or_fail(text: str, what: str) -> object:
    import yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise InvalidSpecError(f"{what} is not valid JSON or YAML{where}: {problem}") from None


class _Section:
    """A record section: a fixed set of builtin-typed fields, validated on load.

    (Plain classes rather than dataclasses: ``dataclasses`` costs more at import than the rest of mlrun.)
    Loading and dumping work on the instance's ``__dict__``: a server does both on every request.
    """

    #: (name, type, default factory) for each field, in record order
    FIELDS: tuple = ()
    _NAMES: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._NAMES = tuple(name for name, _, _ in cls.FIELDS)

    def __init__(self, **values):
        for name, _, default in self.FIELDS:
            setattr(self, name, values.pop(name) if name in values else default())
        if values:
            raise TypeError(f"{type(self).__name__} has no field {next(iter(values))!r}")

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._NAMES)})"

    def to_dict(self, copy: bool = True) -> dict:
        fields = self.__dict__
        if not copy:
            return {name: fields[name] for name in self._NAMES}
        return {name: _copy(fields[name]) for name in self._NAMES}

    @classmethod
    def from_dict(cls, data, path: str = "", copy: bool = True):
        if data is None:
            return cls()
        path = path or cls.__name__
        if not isinstance(data, dict):
            raise InvalidSpecError(f"{path} must be a mapping, got {type(data).__name__}", path)
        fields = {}
        known = 0
        for name, expected, default in cls.FIELDS:
            value = data[name] if name in data else None
            if value is None:  # absent and null mean "use the default"
                known += name in data
                value = default()
            else:
                known += 1
                if type(value) is not expected and (expected is int and isinstance(value, bool)
                                                    or not isinstance(value, expected)):
                    raise InvalidSpecError(f"{path}.{name} must be {_TYPE_NAMES[expected]}, got {type(value).__name__}",
                                           f"{path}.{name}")
                if copy:
                    value = _copy(value)
            fields[name] = value
        if known != len(data):
            unknown = next(k for k in data if k not in cls._NAMES)
            raise InvalidSpecError(f"{path}.{unknown} is not a known field (expected one of: {', '.join(cls._NAMES)})",
                                   f"{path}.{unknown}")
        section = cls.__new__(cls)  # fields set once, here: loading runs on every request a server gets
        section.__dict__ = fields
        return section


_TYPE_NAMES = {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}


def _copy(value):
    # records are shared between a context and its store: hand out copies of containers
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class RunMetadata(_Section):
    name: str
    uid: str
    project: str
    tag: str
    iteration: int
    labels: dict
    annotations: dict
    FIELDS = (("name", str, str), ("uid", str, str), ("project", str, str), ("tag", str, str),
              ("iteration", int, int), ("labels", dict, dict), ("annotations", dict, dict))


class RunSpec(_Section):
    #: how the run was started: ``kind`` (local, remote, ...), ``command``, ``handler``, ``args``
    runtime: dict
    parameters: dict
    #: inputs the run asked for: ``[{key, path}]``
    input_objects: list
    #: named data stores: ``[{name, url, secret_prefix}]``
    data_stores: list
    #: artifact targets given up front: ``[{key, path}]``
    output_artifacts: list
    default_output_path: str
    #: where secrets came from, never their values: ``[{kind, source}]``
    secret_sources: list
    #: parameter sweeps (hyper-parameter runs): ``{name: [values]}``
    hyperparams: dict
    #: sweep options: strategy, selector, max_iterations, ...
    hyper_options: dict
    FIELDS = (("runtime", dict, lambda: {"kind": "", "command": ""}), ("parameters", dict, dict),
              ("input_objects", list, list), ("data_stores", list, list), ("output_artifacts", list, list),
              ("default_output_path", str, str), ("secret_sources", list, list), ("hyperparams", dict, dict),
              ("hyper_options", dict, dict))
    #: list fields a run acts on, and the string fields each of their entries must have
    REFERENCES = {"input_objects": ("key", "path"), "output_artifacts": ("key", "path"), "secret_sources": ("kind",)}

    @classmethod
    def from_dict(cls, data, path: str = "", copy: bool = True):
        spec = super().from_dict(data, path, copy)
        for field, required in cls.REFERENCES.items():
            for i, entry in enumerate(getattr(spec, field)):
                where = f"spec.{field}[{i}]"
                if not isinstance(entry, dict):
                    raise InvalidSpecError(f"{where} must be a mapping, got {type(entry).__name__}", where)
                missing = [name for name in required if not isinstance(entry.get(name), str)]
                if missing:
                    raise InvalidSpecError(f"{where}.{missing[0]} must be a string", f"{where}.{missing[0]}")
        return spec


class RunStatus(_Section):
    state: str
    outputs: dict
    #: ``{key: {labels, xvalues, yvalues}}``
    metrics: dict
    start_time: str
    last_update: str
    #: inputs as read, with lineage: ``[{key, url, size, etag, read_time}]``
    input_objects: list
    #: ``[{key, target_path, size, sha256, format, description, producer, sources, labels}]``
    output_artifacts: list
    error: str
    commit_message: str
    #: hyper-parameter runs: one summary row per iteration
    iterations: list
    FIELDS = (("state", str, lambda: "created"), ("outputs", dict, dict), ("metrics", dict, dict),
              ("start_time", str, str), ("last_update", str, str), ("input_objects", list, list),
              ("output_artifacts", list, list), ("error", str, str), ("commit_message", str, str),
              ("iterations", list, list))


class RunRecord:
    """A run: ``metadata`` (who), ``spec`` (what was asked), ``status`` (what happened)."""

    def __init__(self, metadata: RunMetadata | None = None, spec: RunSpec | None = None,
                 status: RunStatus | None = None):
        self.metadata = metadata or RunMetadata()
        self.spec = spec or RunSpec()
        self.status = status or RunStatus()

    def __eq__(self, other) -> bool:
        return isinstance(other, RunRecord) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"<RunRecord {self.metadata.name or '?'} uid={self.metadata.uid} state={self.status.state}>"

    # convenience accessors used all over: the record stays plain data
    @property
    def uid(self) -> str:
        return self.metadata.uid

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def outputs(self) -> dict:
        return self.status.outputs

    def to_dict(self, copy: bool = True) -> dict:
        """The record as plain data; ``copy=False`` shares containers with the record (read-only use)."""
        return {"metadata": self.metadata.to_dict(copy), "spec": self.spec.to_dict(copy),
                "status": self.status.to_dict(copy)}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data, copy: bool = True) -> "RunRecord":
        """Load and validate; ``copy=False`` shares containers with ``data`` (for read-only use)."""
        if isinstance(data, RunRecord):
            return data.copy()
        if not isinstance(data, dict):
            raise InvalidSpecError(f"run spec must be a mapping, got {type(data).__name__}")
        unknown = [k for k in data if k not in ("metadata", "spec", "status")]
        if unknown:
            raise InvalidSpecError(f"{unknown[0]} is not a known section (expected metadata, spec, status)",
                                   unknown[0])
        record = cls(
            RunMetadata.from_dict(data.get("metadata"), "metadata", copy),
            RunSpec.from_dict(data.get("spec"), "spec", copy),
            RunStatus.from_dict(data.get("status"), "status", copy),
        )
        if record.status.state not in RUN_STATES:
            raise InvalidSpecError(f"status.state must be one of {', '.join(RUN_STATES)}, got {record.status.state!r}",
                                   "status.state")
        return record

    @classmethod
    def from_text(cls, text: str | bytes, what: str = "run spec") -> "RunRecord":
        """Load a record or spec from JSON or YAML text."""
        return cls.from_dict(parse_struct(text, what))

    def copy(self) -> "RunRecord":
        return RunRecord.from_dict(self.to_dict())

    def summary(self) -> dict:
        """The few fields listings show: cheap to store, index and send."""
        return {
            "uid": self.metadata.uid,
            "name": self.metadata.name,
            "project": self.metadata.project,
            "iteration": self.metadata.iteration,
            "labels": dict(self.metadata.labels),
            "state": self.status.state,
            "start_time": self.status.start_time,
            "last_update": self.status.last_update,
            "outputs": {k: v for k, v in self.status.outputs.items() if _is_scalar(v)},
            "error": self.status.error,
        }


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
