"""A Kubeflow Pipelines step that runs mlrun: call ``mlrun_op(...)`` inside a ``@dsl.pipeline`` function.

The step is a container running ``python -m mlrun run --kfp ... TARGET``: the same command line a
person would type, with pipeline parameters and upstream outputs filled in when the pipeline
runs, and the results handed back as KFP output parameters.  The step is described in KFP's
component format (``inputValue``/``outputPath``/``concat`` placeholders) and loaded with
``kfp.components.load_component_from_text``.  kfp (``pip install 'mlrun-lite[kfp]'``) is imported
here only, when a step is built.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError

DEFAULT_IMAGE = "mlrun/mlrun"
RUN_COMMAND = ("python", "-m", "mlrun", "run")
_PLAIN = (str, int, float, bool, list, dict, type(None))


def mlrun_op(target: str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
             outputs: Sequence[str] = (), *, name: str = "mlrun", image: str = DEFAULT_IMAGE, save_to: Any = "",
             workflow: Any = None, secrets: Sequence[tuple[str, str]] = (), out_path: Any = "", handler: str = "",
             project: str = "", labels: Mapping[str, Any] | None = None, rundb: Any = "", kfp_dir: str = "",
             args: Sequence[str] = (), command: Sequence[str] = RUN_COMMAND, mode: str = ""):
    """Add a step running ``mlrun run --kfp TARGET`` to the pipeline being defined; return its task.

    ``target``: the file (a path inside ``image``) or function URL to run.
    ``params``: ``{name: value}`` (``-p``); ``inputs``: ``{key: url}`` (``-i``). Values may be
    constants, pipeline parameters or upstream outputs (``other_task.outputs["model"]``).
    ``outputs``: result or artifact keys to hand to KFP as output parameters: a result's value,
    an artifact's target path.  ``task.outputs[name]`` names them the way KFP does: lower case,
    runs of other characters than letters, digits and ``_`` made ``_`` (``test.txt`` -> ``test_txt``).
    ``workflow``: recorded as the run's ``workflow`` label; default: the pipeline run's id.
    ``secrets``: sources inside the container, ``[("file", "/etc/secrets.txt"), ("env", "A,B")]``;
    never values, which would be stored in the pipeline.
    ``save_to``, ``out_path``, ``handler``, ``project``, ``labels``, ``rundb``, ``kfp_dir`` and
    ``args``, ``mode``: as ``mlrun run --save-to``, ``--out-path``, ``--handler``, ``--project``,
    ``--label``, ``--db``, ``--kfp-dir``, the arguments after the target and ``--mode``.
    ``command``: the container's command; a string is the 2019 form ``mlrun_op('training',
    command='/work/training.py', ...)``: the step's name first, then the file to run.
    The step is never cached: each execution is a new run with its own record.
    """
    try:
        from kfp import components, dsl
    except ImportError as exc:
        from ..registry import install_hint

        raise ImportError(f"mlrun_op needs the Kubeflow Pipelines SDK: {install_hint('kfp', quote=chr(39))}") from exc

    if workflow is None:
        workflow = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    spec, arguments = component_spec(
        target, params=params, inputs=inputs, outputs=outputs, name=name, image=image, save_to=save_to,
        workflow=workflow, secrets=secrets, out_path=out_path, handler=handler, project=project, labels=labels,
        rundb=rundb, kfp_dir=kfp_dir, args=args, command=command, mode=mode)
    # the component format is YAML, and JSON is YAML
    task = components.load_component_from_text(json.dumps(spec))(**arguments)
    return task.set_caching_options(False)


def component_spec(target: str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Sequence[str] = (), *, name: str = "mlrun", image: str = DEFAULT_IMAGE,
                   save_to: Any = "", workflow: Any = "", secrets: Sequence[tuple[str, str]] = (),
                   out_path: Any = "", handler: str = "", project: str = "", labels: Mapping[str, Any] | None = None,
                   rundb: Any = "", kfp_dir: str = "", args: Sequence[str] = (),
                   command: Sequence[str] = RUN_COMMAND, mode: str = "") -> tuple[dict, dict]:
    """The step as a component definition, and the arguments to pass to its inputs.

    Constants are written into the command line; every pipeline value (a parameter, an upstream
    output, a ``{{...}}`` placeholder) becomes a component input, so KFP substitutes it at run time.
    """
    if isinstance(command, str):  # the 2019 form mlrun_op(name, command=FILE): never a command spelled by letter
        name, target, command = target or name, command, RUN_COMMAND
    if not target or not isinstance(target, str):
        raise InvalidInputError("mlrun_op: target must be a file path or function URL")
    if isinstance(secrets, Mapping) or any(_is_inline(source) for source in secrets):
        raise InvalidInputError("mlrun_op: secrets must be sources like ('file', path) or ('env', 'A,B'), "
                                "never values (inline): the compiled pipeline would store them")
    output_names = _output_names(outputs)
    step = _Step(taken=set(output_names.values()))
    cli = ["--kfp"]
    for option, label, pairs in (("-p", "", params), ("-i", "input_", inputs), ("--label", "label_", labels)):
        for key, value in (pairs or {}).items():
            if not isinstance(key, str) or not key or "=" in key:
                raise InvalidInputError(f"mlrun_op: {option} key {key!r} must be a non-empty string without '='")
            cli += [option, step.pair(key, value, label + key, typed=option == "-p")]
    for entry in secrets:
        kind, source = entry.split("=", 1) if isinstance(entry, str) and "=" in entry else entry
        cli += ["-s", f"{kind}={source}"]
    for option, label, value in (("--save-to", "save_to", save_to), ("--workflow", "workflow", workflow),
                                 ("--out-path", "out_path", out_path), ("--db", "rundb", rundb),
                                 ("--project", "project", project), ("--handler", "handler", handler),
                                 ("--kfp-dir", "kfp_dir", kfp_dir), ("--mode", "mode", mode)):
        if value is not None and value != "":
            cli += [option, step.value(without_url_password("mlrun_op", label, value), label)]
    for key, output in output_names.items():
        cli += ["--kfp-output", {"concat": [f"{key}=", {"outputPath": output}]}]
    cli += [target, *(str(a) for a in args)]

    spec = {
        "name": name,
        "description": f"mlrun run {target}",
        "inputs": step.inputs,
        "outputs": [{"name": output, "type": "String"} for output in output_names.values()],
        "implementation": {"container": {"image": image, "command": list(command), "args": cli}},
    }
    return spec, step.arguments


def without_url_password(caller: str, label: str, value: Any) -> Any:
    """``value``, refused when it is a constant URL with a password (``postgresql://user:PASSWORD@host/db``): the
    compiled pipeline would store it for anyone who reads the pipeline to see.  The message does not repeat it."""
    if isinstance(value, str) and "://" in value and "@" in value:
        from urllib.parse import urlsplit

        try:
            password = urlsplit(value.strip()).password
        except ValueError:
            password = None
        if password:
            raise InvalidInputError(
                f"{caller}: {label} holds a password in its URL, which the compiled pipeline would store: leave it "
                "out of the URL and give it to the step's environment from a secret (PGPASSWORD or "
                "MLRUN_PG_PASSWORD)")
    return value


def _is_inline(source) -> bool:
    """An inline source (``("inline", "K=V")``, a mapping...): values, not a reference."""
    if isinstance(source, str):  # "inline=K=V", the CLI's spelling
        return source.partition("=")[0].strip().lower() == "inline"
    if isinstance(source, (tuple, list)) and source:
        return str(source[0]).strip().lower() == "inline" or any(isinstance(part, Mapping) for part in source)
    return True  # neither a (kind, source) pair nor its text: not a reference either


def kfp_name(key: str) -> str:
    """The name KFP gives an input or output called ``key`` (``test.txt`` -> ``test_txt``)."""
    return re.sub(r"[^_0-9a-z]+", "_", key.lower()).strip("_")


def _output_names(keys: Sequence[str]) -> dict[str, str]:
    if isinstance(keys, str):
        keys = [keys]
    names: dict[str, str] = {}
    for key in keys:
        name = kfp_name(str(key))
        if not name:
            raise InvalidInputError(f"mlrun_op: output {key!r} has no letters or digits to name it by")
        clash = next((k for k, n in names.items() if n == name), None)
        if clash is not None:
            raise InvalidInputError(f"mlrun_op: outputs {clash!r} and {key!r} would both be named {name!r}")
        names[str(key)] = name
    return names


class _Step:
    """Collects the component's inputs while the command line is written."""

    def __init__(self, taken: set):
        self.inputs: list[dict] = []
        self.arguments: dict = {}
        self._taken = taken

    def value(self, value: Any, label: str, typed: bool = False):
        """A command-line word: the constant itself, or a placeholder for a pipeline value."""
        if not _is_pipeline_value(value):
            return cli_text(value) if typed else str(value)
        name = base = kfp_name(label) or "value"
        count = 1
        while name in self._taken:
            count += 1
            name = f"{base}_{count}"
        self._taken.add(name)
        channel_type = getattr(value, "channel_type", None)
        self.inputs.append({"name": name, "type": channel_type if isinstance(channel_type, str) else "String"})
        self.arguments[name] = value
        return {"inputValue": name}

    def pair(self, key: str, value: Any, label: str, typed: bool = False):
        """``key=value`` as one command-line word."""
        word = self.value(value, label, typed)
        return f"{key}={word}" if isinstance(word, str) else {"concat": [f"{key}=", word]}


def _is_pipeline_value(value: Any) -> bool:
    # a parameter or an upstream output is a kfp object; a runtime placeholder is a "{{...}}" string
    return not isinstance(value, _PLAIN) or isinstance(value, str) and "{{" in value


def cli_text(value: Any) -> str:
    """``value`` written so that ``mlrun run -p key=...`` reads it back the same (``"5"`` stays a string)."""
    from ..params import parse_value

    if isinstance(value, str):
        parsed = parse_value(value)
        return value if isinstance(parsed, str) and parsed == value else json.dumps(value)
    return json.dumps(value)
