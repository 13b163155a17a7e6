"""The function object: code plus how to run it, as MLRun 1.x's ``new_function`` makes it.

    fn = mlrun.new_function("trainer", kind="job", command="trainer.py", handler="train")
    run = fn.run(params={"p1": 5}, local=True)
    fn.export("trainer.yaml"); fn2 = mlrun.import_function("trainer.yaml")

``fn.metadata`` (``name``, ``project``, ``tag``, ``labels``, ``categories``), ``fn.spec`` (``command``, ``args``,
``image``, ``default_handler``, ``description``, ``env``, ``build``: ``functionSourceCode`` (base64),
``origin_filename``, ``code_origin``, ``requirements``, ``base_image``, ``commands``) and ``fn.status`` read and
write as attributes; ``to_dict()`` / ``to_yaml()`` / ``export()`` write MLRun 1.x's function YAML, which
``import_function`` reads back.  A run goes through ``run_start``: the same record, run store and masking as every
other run; ``fn.run`` raises ``RunError`` (after recording it) when the run ends in state ``error``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import MLRunInvalidArgumentError, RunError
from ..model import dump_yaml

#: Kubernetes' qualified name, MLRun 1.x's rule for function names
NAME_PATTERN = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
#: the project a run of a function goes to when neither the run nor the function names one
DEFAULT_PROJECT = "default"


def check_name(name: str, what: str = "function name") -> str:
    """``name`` when it is a valid function (or tag) name; else ``MLRunInvalidArgumentError`` naming it."""
    if name and (len(name) > 63 or not NAME_PATTERN.match(name)):
        raise MLRunInvalidArgumentError(
            f"{what} {name!r} is not valid: letters, digits, '-', '_' and '.', starting and ending with a letter or "
            "digit, at most 63 characters")
    return name


class _Fields:
    """Attributes that read and write the section's fields; ``to_dict`` gives them in MLRun 1.x's layout."""

    _fields: dict = {}

    def __init__(self, **values):
        for name, default in self._fields.items():
            value = values.pop(name, None)
            setattr(self, name, _fresh(default) if value is None else value)
        self.extra = dict(values)  # fields this version does not use: kept for the round trip

    def to_dict(self) -> dict:
        data = {name: _plain(getattr(self, name)) for name in self._fields}
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: Mapping | None):
        return cls(**dict(data or {}))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


def _fresh(default):
    return type(default)() if isinstance(default, (dict, list)) else default


def _plain(value):
    return value.to_dict() if isinstance(value, _Fields) else value


class FunctionMetadata(_Fields):
    _fields = {"name": "", "tag": "", "project": "", "labels": {}, "annotations": {}, "categories": []}


class BuildSpec(_Fields):
    _fields = {"functionSourceCode": "", "origin_filename": "", "code_origin": "", "requirements": [],
               "base_image": "", "commands": []}


class FunctionSpec(_Fields):
    _fields = {"command": "", "args": [], "image": "", "description": "", "default_handler": "", "env": [],
               "build": None}

    def __init__(self, **values):
        build = values.pop("build", None)
        super().__init__(**values)
        self.build = build if isinstance(build, BuildSpec) else BuildSpec.from_dict(build)

    @property
    def handler(self) -> str:
        """MLRun 1.x's ``default_handler``."""
        return self.default_handler

    @handler.setter
    def handler(self, value: str) -> None:
        self.default_handler = value


class FunctionStatus(_Fields):
    _fields = {"state": "", "address": "", "nuclio_name": "", "external_invocation_urls": []}


class Function:
    """A function object of one ``kind`` (see the module's text); subclasses are the kinds (``kinds.py``)."""

    kind = ""
    #: the run's ``kind`` label (MLRun 1.x's: ``local``, ``job``, ...)
    label = "local"

    def __init__(self, metadata: FunctionMetadata | Mapping | None = None, spec: FunctionSpec | Mapping | None = None,
                 status: FunctionStatus | Mapping | None = None):
        self.metadata = metadata if isinstance(metadata, FunctionMetadata) else FunctionMetadata.from_dict(metadata)
        self.spec = spec if isinstance(spec, FunctionSpec) else FunctionSpec.from_dict(spec)
        self.status = status if isinstance(status, FunctionStatus) else FunctionStatus.from_dict(status)
        check_name(self.metadata.name)
        check_name(self.metadata.tag, "function tag")
        self.verbose = False
        self._module = None  # the loaded code, kept for the next run of the same code
        self._handlers: dict[str, Callable] = {}

    # -- MLRun 1.x's builder methods ----------------------------------------------------------------------
    def with_code(self, from_file: str = "", body: str | None = None) -> Function:
        """Embed code: the text ``body``, or the code of ``from_file`` (a ``.py`` file or a notebook)."""
        from .code import encode_code, read_code

        if body is None:
            if not from_file:
                raise MLRunInvalidArgumentError("with_code needs from_file or body")
            body = read_code(from_file)
            self.spec.build.origin_filename = from_file
        self.spec.build.functionSourceCode = encode_code(body)
        self._module, self._handlers = None, {}
        return self

    def with_requirements(self, requirements: Sequence[str] | str) -> Function:
        """Add pip requirements (a list, or a requirements file's path) to the function's build."""
        if isinstance(requirements, str):
            with open(requirements, encoding="utf-8") as fp:
                requirements = [line.strip() for line in fp if line.strip() and not line.startswith("#")]
        self.spec.build.requirements = [*self.spec.build.requirements,
                                        *(r for r in requirements if r not in self.spec.build.requirements)]
        return self

    def set_env(self, name: str, value: str) -> Function:
        """Set an environment variable of the function (``spec.env``: ``[{name, value}]``)."""
        self.spec.env = [e for e in self.spec.env if e.get("name") != name] + [{"name": name, "value": str(value)}]
        return self

    def set_label(self, key: str, value: str) -> Function:
        self.metadata.labels[str(key)] = str(value)
        return self

    # -- the YAML form ------------------------------------------------------------------------------------
    def to_dict(self, strip: bool = False) -> dict:
        """MLRun 1.x's function layout: ``kind``, ``metadata``, ``spec`` (``build.functionSourceCode`` base64),
        ``status`` (when it says anything), ``verbose``; ``strip``: without the status."""
        data = {"kind": self.kind, "metadata": self.metadata.to_dict(), "spec": self.spec.to_dict()}
        status = {k: v for k, v in self.status.to_dict().items() if v}
        if status and not strip:
            data["status"] = status
        data["verbose"] = self.verbose
        return data

    def to_yaml(self, strip: bool = False) -> str:
        return dump_yaml(self.to_dict(strip))

    def export(self, target: str = "", format: str = ".yaml", secrets: Mapping | None = None,
               strip: bool = True) -> Function:
        """Write the function's YAML (or JSON: ``format='.json'``) to ``target`` (default ``function.yaml``; a local
        path or a data store URL), written whole or not at all."""
        import json

        from .code import write_text

        target = target or f"function{format}"
        write_text(target, json.dumps(self.to_dict(strip), indent=2) if format == ".json" else self.to_yaml(strip),
                   secrets)
        return self

    @classmethod
    def from_dict(cls, data: Mapping) -> Function:
        fn = cls(data.get("metadata"), data.get("spec"), data.get("status"))
        fn.verbose = bool(data.get("verbose", False))
        return fn

    def copy(self) -> Function:
        return type(self).from_dict(self.to_dict())

    @property
    def uri(self) -> str:
        """``project/name[:tag]``, the name MLRun 1.x gives a function."""
        tag = f":{self.metadata.tag}" if self.metadata.tag else ""
        return f"{self.metadata.project or DEFAULT_PROJECT}/{self.metadata.name}{tag}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.metadata.name or '?'} kind={self.kind!r}>"

    # -- the code -----------------------------------------------------------------------------------------
    @property
    def code(self) -> str:
        """The function's code: embedded, else its command's file (``""`` when it has neither)."""
        from .code import decode_code, read_code

        if self.spec.build.functionSourceCode:
            return decode_code(self.spec.build.functionSourceCode)
        command = self.spec.command
        if command and "://" not in command and os.path.isfile(command):
            return read_code(command)
        return ""

    def to_module(self):
        """The function's code as a module (loaded once per function object and code)."""
        from .code import load_module

        if self._module is None:
            code = self.code
            if not code:
                raise MLRunInvalidArgumentError(f"function {self.metadata.name or '?'!r} has no code (set command= "
                                                "to a file, or use code_to_function / with_code)")
            origin = self.spec.build.origin_filename or self.spec.command
            name = "".join(c if c.isalnum() else "_" for c in self.metadata.name) or "mlrun_function"
            self._module = load_module(code, name, origin if origin and os.path.isfile(origin) else "")
        return self._module

    def handler_callable(self, handler: str, init_args: Mapping | None = None) -> Callable:
        """The callable ``handler`` names in the function's code (``func``, ``Class::method`` (its instance made with
        ``init_args``), ``module.func``).  Code that fails to load raises ``RunError`` (MLRun 1.x: pre-loading)."""
        from ..errors import MLRunError
        from ..loader import resolve_handler

        if handler in self._handlers and not init_args:
            return self._handlers[handler]
        try:
            namespace = self.to_module().__dict__
        except MLRunInvalidArgumentError:
            if "." not in handler:  # a dotted path needs no code of the function's own
                raise
            namespace = {}
        except MLRunError as exc:
            raise RunError(f"function {self.metadata.name or '?'!r} failed on pre-loading its code: {exc}") from None
        found = resolve_handler(namespace, handler, f"function {self.metadata.name or '?'!r}", init_args)
        if not init_args:
            self._handlers[handler] = found
        return found

    def code_path(self) -> str:
        """A file holding the function's code (its command's, or the embedded code written out)."""
        from .code import code_file

        if not self.spec.build.functionSourceCode and self.spec.command and os.path.isfile(self.spec.command):
            return self.spec.command
        code = self.code
        if not code:
            raise MLRunInvalidArgumentError(f"function {self.metadata.name or '?'!r} has no code to run")
        return code_file(code, self.metadata.name)

    # -- running ------------------------------------------------------------------------------------------
    def run(self, runspec=None, handler: str | Callable | None = None, name: str = "", project: str = "",
            params: Mapping | None = None, inputs: Mapping[str, str] | None = None, out_path: str = "",
            artifact_path: str = "", workdir: str = "", hyperparams: Mapping | None = None,
            hyper_param_options=None, selector: str = "", local: bool = False, watch: bool = True,
            labels: Mapping | None = None, returns: Sequence[str] | None = None, verbose: bool = False, *,
            param_file: str = "", secrets=None, rundb: str = "", stream: bool = True):
        """Run the function (MLRun 1.x's ``fn.run``) and return the run object.

        ``runspec``: a task (``new_task(...)``, ``NewRun(...)``), a record mapping or a run object to run again;
        ``handler``: a name in the function's code (``func``, ``Class::method``, ``module.func``) or a callable;
        ``params``, ``inputs`` (``{key: url}``; relative paths under ``workdir``), ``hyperparams`` with
        ``hyper_param_options`` (a mapping or ``mlrun.model.HyperParamOptions``), ``selector`` (``max.KEY``,
        ``min.KEY`` or a bare ``KEY``), ``param_file``; ``returns``: names for what the handler returns;
        ``artifact_path`` (or ``out_path``): where artifacts go; ``labels`` join the function's and ``kind``;
        ``project``: the run's (default: the function's, else ``default``).  A run in state ``error`` raises
        ``mlrun.runtimes.utils.RunError`` once recorded.
        """
        from ..run import run_start, under_workdir

        task = _as_task(runspec, hyperparams, hyper_param_options, selector, param_file)
        handler = handler or (task.spec.handler if task is not None else None) or self.spec.default_handler or None
        if name:
            check_name(name, "run name")
        values = {**(task.spec.parameters if task is not None else {}), **dict(params or {})}
        target = self._run_target(handler, local, values.get("_init_args"))
        if target.get("args"):
            target["args"] = substitute(target["args"], values)
        task, inputs = under_workdir(workdir, task, inputs)
        run_labels = {**self.metadata.labels, **dict(labels or {}), "kind": self.label}
        if self.metadata.tag:
            run_labels.setdefault("tag", self.metadata.tag)
        task_name = task.metadata.name if task is not None else ""
        task_project = task.metadata.project if task is not None else ""
        run = run_start(task, handler=target.get("handler"), command=target.get("command", ""),
                        name=name or task_name or self.metadata.name, rundb=rundb or self.spec.extra.get("rundb", ""),
                        mode=target.get("mode", ""),
                        project=project or task_project or self.metadata.project or DEFAULT_PROJECT,
                        params=params, inputs=inputs, artifact_path=artifact_path or out_path,
                        labels=run_labels, secrets=secrets, args=target.get("args", ()), returns=returns or (),
                        stream=stream)
        if run.state() == "error":
            raise RunError(f"run {run.metadata.name} ({run.uid}) failed: {run.error}", run)
        return run

    def _run_target(self, handler, local: bool, init_args: Mapping | None = None) -> dict:
        """How ``run_start`` runs this function: ``{handler, command, args, mode}`` (the kinds override it);
        ``init_args``: the run's ``_init_args`` (a ``Class::method`` handler's instance is made with them)."""
        if callable(handler):
            return {"handler": handler}
        if handler:
            return {"handler": self.handler_callable(handler, init_args)}
        if self.spec.command or self.spec.build.functionSourceCode:  # the file as a script, in a child process
            return {"command": self.code_path(), "args": self.spec.args}
        raise MLRunInvalidArgumentError(f"function {self.metadata.name or '?'!r} has nothing to run: give a "
                                        "handler, a command or code")


def substitute(args: Sequence[str], params: Mapping) -> list[str]:
    """A command's arguments with ``{NAME}`` replaced by the run's parameter ``NAME`` (others left as they are)."""
    def value(match: re.Match) -> str:
        return str(params[match.group(1)]) if match.group(1) in params else match.group(0)

    return [re.sub(r"\{(\w+)\}", value, str(arg)) for arg in args]


def _as_task(runspec, hyperparams, hyper_param_options, selector: str, param_file: str):
    """``fn.run``'s ``runspec`` and sweep arguments as one task template (``None``: neither given)."""
    from ..templates import RunTemplate, new_task

    options = hyper_param_options.to_dict() if hasattr(hyper_param_options, "to_dict") else hyper_param_options
    base = runspec
    if runspec is not None and not isinstance(runspec, RunTemplate):
        data = runspec.to_dict() if hasattr(runspec, "to_dict") else dict(runspec)
        base = _template_from_dict(data)
    if not (hyperparams or options or selector or param_file):
        return base
    return new_task(base=base, hyper_params=hyperparams, hyper_param_options=options or None,
                    selector=selector or None, param_file=param_file or None)


def _template_from_dict(data: Mapping):
    """A record mapping (``{'metadata': ..., 'spec': ...}``, a run's ``to_dict()``) as a task template."""
    from ..templates import new_task

    meta, spec = dict(data.get("metadata") or {}), dict(data.get("spec") or {})
    options = dict(spec.get("hyper_options") or {})
    task = new_task(meta.get("name"), project=meta.get("project"), labels=meta.get("labels"),
                    params=spec.get("parameters"), inputs=list(spec.get("input_objects") or []) or None,
                    outputs=list(spec.get("output_artifacts") or []) or None,
                    artifact_path=spec.get("default_output_path") or spec.get("output_path"),
                    hyper_params=spec.get("hyperparams"), selector=options.pop("selector", None),
                    param_file=options.pop("param_file", None), hyper_param_options=options or None,
                    handler=(spec.get("runtime") or {}).get("handler") or spec.get("handler") or None)
    return task


def is_function(obj: Any) -> bool:
    return isinstance(obj, Function)
