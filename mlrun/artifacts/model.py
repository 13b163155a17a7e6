"""Models: a trained model's file(s) in a folder of their own, with ``model_spec.yaml`` and extra data beside them.

``RunContext.log_model`` stores ``<output path>/<key>/<model_file>`` (or every file of ``model_dir``), each
``extra_data`` value (bytes become files in the folder; artifacts and URLs are referenced) and the model's
spec as MLRun 1.x lays it out (``kind: model``, ``metadata``, ``spec``, ``status``).  The record's entry points
at the model file (``target_path``), and carries ``model_dir``, ``model_file``, ``framework``, ``algorithm``,
``metrics``, ``parameters``, ``inputs``/``outputs``, ``extra_data`` and the rest.

``get_model(uri)`` reads it back from a ``store://`` URI, a data item, a model folder or a model file;
``update_model`` adds metrics, parameters, labels and extra data to a stored model.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

from ..errors import InvalidInputError
from .base import Artifact

MODEL_SPEC = "model_spec.yaml"
#: the entry's fields a model adds, in the order ``model_spec.yaml`` shows them
MODEL_FIELDS = ("model_file", "model_dir", "framework", "algorithm", "metrics", "parameters", "inputs", "outputs",
                "feature_vector", "feature_weights", "label_column", "extra_data")
#: what ``list_artifacts`` adds to a record's entry about its run (never stored back in the entry)
RUN_FIELDS = ("uid", "run_name", "project", "iteration")


def plain(value, what: str):
    """``value`` as plain JSON data (numpy scalars and arrays as numbers and lists); refused naming ``what``."""
    def convert(item):
        for method in ("item", "tolist"):
            if hasattr(item, method):
                return getattr(item, method)()
        raise TypeError(type(item).__name__)

    try:
        return json.loads(json.dumps(value, default=convert))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what}: cannot record a value of type {exc}") from None


class ModelArtifact(Artifact):
    """A trained model to log (``RunContext.log_model``), or one read back (``get_model``): the fields of its
    entry as attributes (``model_file``, ``metrics``, ``parameters``, ``extra_data``, ...).

    The model is ``body`` (bytes, e.g. a pickle), else the local file ``model_file``, else the files of the
    local folder ``model_dir`` (``model_file`` names the main one).  ``training_set`` (a DataFrame) fills
    ``inputs`` and ``outputs`` (``label_column``: the outputs) when they are not given.
    """

    kind, default_viewer, rendered = "model", "", False

    def __init__(self, key: str, body: bytes | None = None, model_file: str | None = None,
                 model_dir: str | None = None, framework: str = "", algorithm: str = "",
                 metrics: Mapping | None = None, parameters: Mapping | None = None, inputs: list | None = None,
                 outputs: list | None = None, feature_vector: str | None = None, feature_weights: list | None = None,
                 training_set=None, label_column: str | list | None = None, extra_data: Mapping | None = None,
                 **kwargs):
        local_path = None
        if body is None and model_dir:
            if not os.path.isdir(model_dir):
                raise InvalidInputError(f"model {key!r}: model_dir {model_dir!r} is not a local folder")
            files = sorted(f for f in os.listdir(model_dir) if os.path.isfile(os.path.join(model_dir, f)))
            if not model_file and len(files) != 1:
                raise InvalidInputError(f"model {key!r}: model_dir holds {len(files)} files: name the model's one "
                                        "with model_file")
            model_file = os.path.basename(model_file or files[0])
            local_path = os.path.join(model_dir, model_file)
        elif body is None and model_file:
            local_path = model_file
        elif body is None:
            raise InvalidInputError(f"model {key!r} needs a body (the model's bytes), a model_file or a model_dir")
        self.model_file = os.path.basename(model_file) if model_file else f"{os.path.basename(key)}.pkl"
        super().__init__(key, body=body, local_path=local_path,
                         format=kwargs.pop("format", None) or os.path.splitext(self.model_file)[1].lstrip("."),
                         **kwargs)
        self.source_dir = model_dir if local_path and model_dir else None
        if training_set is not None and (inputs is None or outputs is None):
            found_inputs, found_outputs = features_of(training_set, label_column, key)
            inputs = found_inputs if inputs is None else inputs
            outputs = found_outputs if outputs is None else outputs
        self.model_dir = ""
        self.framework, self.algorithm = framework or "", algorithm or ""
        self.metrics = plain(dict(metrics or {}), f"model {key!r} metrics")
        self.parameters = plain(dict(parameters or {}), f"model {key!r} parameters")
        self.inputs = plain(list(inputs or []), f"model {key!r} inputs")
        self.outputs = plain(list(outputs or []), f"model {key!r} outputs")
        self.feature_vector = feature_vector or ""
        self.feature_weights = plain(list(feature_weights or []), f"model {key!r} feature_weights")
        self.label_column = label_column or ""
        self.extra_data = dict(extra_data or {})
        self.entry: dict = {}

    def file_name(self) -> str:
        return f"{self.key}/{self.model_file}"

    def entry_fields(self) -> dict:
        return {name: getattr(self, name) for name in MODEL_FIELDS if name not in ("model_dir", "extra_data")}

    @property
    def spec(self) -> ModelArtifact:
        """The model itself: MLRun 1.x code reads ``model_artifact.spec.model_file`` and the like."""
        return self

    @property
    def uri(self) -> str:
        """The model's ``store://`` URI (once logged or read back)."""
        return self.entry.get("uri", "")

    @classmethod
    def from_entry(cls, entry: Mapping) -> ModelArtifact:
        """The model a record's entry (or a ``model_spec.yaml``'s fields) describes."""
        model = cls.__new__(cls)
        Artifact.__init__(model, entry.get("key") or "model", target_path=entry.get("target_path"),
                          viewer=entry.get("viewer") or "", format=entry.get("format") or "",
                          description=entry.get("description") or "", labels=entry.get("labels") or {})
        for name in MODEL_FIELDS:
            setattr(model, name, entry.get(name, "" if name in ("framework", "algorithm", "model_dir",
                                                                "feature_vector", "label_column", "model_file")
                                      else {} if name in ("metrics", "parameters", "extra_data") else []))
        model.body, model.local_path, model.source_dir = None, None, None
        model.entry = dict(entry)
        return model

    def to_dict(self) -> dict:
        return {**super().to_dict(), **{name: getattr(self, name) for name in MODEL_FIELDS}}


def features_of(df, label_column, key: str) -> tuple[list, list]:
    """``(inputs, outputs)`` of a training set: each column's name and type, the label column(s) as outputs."""
    from .dataset import as_dataframe

    df = as_dataframe(df, key)
    labels = [label_column] if isinstance(label_column, str) else list(label_column or [])
    features = [{"name": str(name), "value_type": str(dtype)} for name, dtype in df.dtypes.items()]
    return ([f for f in features if f["name"] not in labels], [f for f in features if f["name"] in labels])


def folder_of(url: str) -> str:
    """The folder (URL or path) a file's URL is in, ending with ``/``."""
    return url.rsplit("/", 1)[0] + "/"


def spec_text(entry: Mapping) -> str:
    """``model_spec.yaml`` of a model entry, laid out as MLRun 1.x writes it."""
    from ..model import dump_yaml

    metadata = {"key": entry.get("key"), "project": entry.get("project") or "", "iter": entry.get("iteration", 0),
                "tree": (entry.get("producer") or {}).get("uid", "") or entry.get("uid", ""),
                "tag": entry.get("tag") or "latest", "labels": entry.get("labels") or {},
                "description": entry.get("description") or "", "hash": entry.get("sha256", "")}
    spec = {"target_path": entry.get("model_dir", ""), "model_file": entry.get("model_file", ""),
            "size": entry.get("size", 0), "format": entry.get("format", ""),
            **{name: entry.get(name) for name in MODEL_FIELDS if name not in ("model_file", "model_dir")},
            "uri": entry.get("uri", "")}
    return dump_yaml({"kind": "model", "metadata": metadata, "spec": spec, "status": {"state": "created"}})


def entry_of_spec(data: Mapping, where: str) -> dict:
    """The entry fields a ``model_spec.yaml`` holds (``spec_text``'s inverse)."""
    if not isinstance(data, Mapping) or data.get("kind") != "model" or not isinstance(data.get("spec"), Mapping):
        raise InvalidInputError(f"{where} is not a model spec (kind: model, with a spec)")
    metadata, spec = data.get("metadata") or {}, data["spec"]
    entry = {name: spec.get(name) for name in MODEL_FIELDS if name in spec}
    entry.update(key=metadata.get("key", ""), kind="model", model_dir=spec.get("target_path", ""),
                 labels=metadata.get("labels") or {}, sha256=metadata.get("hash", ""), uri=spec.get("uri", ""),
                 target_path=spec.get("target_path", "") + (spec.get("model_file") or ""))
    return entry


def write_model_files(record, entry: dict, model: ModelArtifact, writer) -> None:
    """After the model file was stored (``entry``): the other files of its ``model_dir``, its extra data and
    ``model_spec.yaml``, into the model's folder; ``writer(url, data_or_local_path)`` stores one file."""
    from ..datastore import join_url

    folder = folder_of(entry["target_path"])
    entry["model_dir"] = folder
    if model.source_dir:
        for name in sorted(os.listdir(model.source_dir)):
            path = os.path.join(model.source_dir, name)
            if name != model.model_file and os.path.isfile(path):
                writer(join_url(folder, name), path)
    entry["extra_data"] = extra_urls(model.extra_data, folder, writer, model.key)
    writer(join_url(folder, MODEL_SPEC), spec_text({**entry, "project": record.metadata.project,
                                                    "iteration": record.metadata.iteration}).encode("utf-8"))


def extra_urls(extra_data: Mapping, folder: str, writer, key: str, prefix: str = "") -> dict:
    """Where each extra data value is: bytes (or a body text) stored as a file in ``folder``; a logged entry,
    an ``Artifact`` already logged or a data item by its URI; a string as the URL it is."""
    from ..datastore import DataItem, join_url

    urls = {}
    for name, value in extra_data.items():
        name = f"{prefix}{name}"
        if isinstance(value, (bytes, bytearray)):
            url = join_url(folder, name)
            writer(url, bytes(value))
        elif isinstance(value, DataItem):
            url = value.artifact_url
        elif isinstance(value, Mapping) and (value.get("uri") or value.get("target_path")):
            url = value.get("uri") or value["target_path"]
        elif isinstance(value, str):
            url = value
        else:
            raise InvalidInputError(f"model {key!r}: extra_data {name!r} must be bytes, a URL, a data item or a logged "
                                    f"artifact's entry, got {type(value).__name__}")
        urls[name] = url
    return urls


def get_model(model_dir, suffix: str = "") -> tuple[str, ModelArtifact | None, dict]:
    """``(model_file, model_artifact, extra_dataitems)``: the model file as a local path (downloaded when remote),
    the model's artifact (its metrics, parameters, ...) and a data item per extra data key.

    ``model_dir`` is a ``store://`` URI (``store://models/<project>/<key>[:tag]``), a data item (a run's input),
    a folder holding ``model_spec.yaml``, or a model file (``suffix``: the model file's suffix, to pick the file
    in a folder without a spec); a bare file has no artifact (``None``) and no extra data.
    """
    from ..datastore import DataItem, get_item, join_url

    item = model_dir if isinstance(model_dir, DataItem) else None
    url = item.artifact_url if item is not None else model_dir
    if not isinstance(url, str) or not url:
        raise InvalidInputError(f"get_model needs a store:// URI, a data item or a path, got {model_dir!r}")
    if item is None and url.startswith("store://"):
        item = get_item(url)
    if item is not None and item.meta is not None:
        entry = item.meta
        if entry.get("kind") != "model":
            raise InvalidInputError(f"{url} is a {entry.get('kind') or 'plain'} artifact, not a model")
        model_file = item.local()
    else:
        plain_item = item or get_item(url)
        if suffix and url.endswith(suffix) or not url.endswith("/") and _is_file(plain_item):
            return plain_item.local(), None, {}
        spec_item = get_item(join_url(url, MODEL_SPEC))
        if not spec_item.exists():
            model_name = _file_with_suffix(plain_item, suffix, url)
            return get_item(join_url(url, model_name)).local(), None, {}
        from ..model import parse_struct

        entry = entry_of_spec(parse_struct(spec_item.get(), url + "/" + MODEL_SPEC), join_url(url, MODEL_SPEC))
        entry["model_dir"] = url if url.endswith("/") else url + "/"
        model_file = get_item(join_url(entry["model_dir"], entry["model_file"])).local()
    extra = {name: get_item(target) for name, target in (entry.get("extra_data") or {}).items()}
    return model_file, ModelArtifact.from_entry(entry), extra


def _is_file(item) -> bool:
    """Whether ``item`` is a file (not a folder, not missing)."""
    from ..errors import NotFoundError

    try:
        local = item.store.local_path(item.path)
    except NotFoundError:
        return False
    return os.path.isfile(local) if local is not None else item.exists()


def _file_with_suffix(folder_item, suffix: str, url: str) -> str:
    names = [n for n in folder_item.listdir() if not suffix or n.endswith(suffix)]
    if len(names) != 1:
        raise InvalidInputError(f"{url} holds no {MODEL_SPEC} and {len(names)} files" +
                                (f" ending with {suffix!r}" if suffix else "") + ": cannot tell the model file")
    return names[0]


def update_model(model_artifact, parameters: dict | None = None, metrics: dict | None = None,
                 extra_data: dict | None = None, inputs: list | None = None, outputs: list | None = None,
                 feature_vector: str | None = None, feature_weights: list | None = None, key_prefix: str = "",
                 labels: dict | None = None, write_spec_copy=True, store_object: bool = True) -> ModelArtifact:
    """Add to a stored model (a ``ModelArtifact`` from ``get_model``, or its ``store://`` URI): ``parameters``,
    ``metrics`` and ``labels`` are merged in, ``extra_data`` added (bytes stored in the model's folder, keys
    prefixed with ``key_prefix``), ``inputs``/``outputs``/``feature_vector``/``feature_weights`` replaced.
    ``write_spec_copy`` rewrites ``model_spec.yaml``; ``store_object`` updates the entry in the run store."""
    from ..datastore import get_item, join_url

    if isinstance(model_artifact, str):
        model_artifact = get_model(model_artifact)[1]
    if not isinstance(model_artifact, ModelArtifact) or not model_artifact.entry:
        raise InvalidInputError("update_model needs a model read back with get_model (or its store:// URI)")
    model, key = model_artifact, model_artifact.key
    model.parameters.update(plain(dict(parameters or {}), f"model {key!r} parameters"))
    model.metrics.update(plain(dict(metrics or {}), f"model {key!r} metrics"))
    model.labels.update({str(k): str(v) for k, v in (labels or {}).items()})
    for name, value in (("inputs", inputs), ("outputs", outputs), ("feature_weights", feature_weights)):
        if value is not None:
            setattr(model, name, plain(list(value), f"model {key!r} {name}"))
    if feature_vector is not None:
        model.feature_vector = feature_vector

    def writer(url: str, data: bytes | str) -> None:
        item = get_item(url, action="write")
        item.put(data) if isinstance(data, bytes) else item.upload(data)

    model.extra_data.update(extra_urls(extra_data or {}, model.model_dir, writer, key, key_prefix))
    entry = {**model.entry, **{name: getattr(model, name) for name in MODEL_FIELDS}, "labels": dict(model.labels)}
    model.entry = entry
    if write_spec_copy:
        writer(join_url(model.model_dir, MODEL_SPEC), spec_text(entry).encode("utf-8"))
    if store_object and entry.get("uid"):
        from ..rundb import get_run_db

        stored = {k: v for k, v in entry.items() if k not in RUN_FIELDS}
        get_run_db().store_artifact(key, stored, entry["uid"], entry.get("iteration", 0))
    return model
