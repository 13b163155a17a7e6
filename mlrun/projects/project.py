"""The project object (MLRun 1.x's ``MlrunProject``) and how projects are made, loaded and found.

``project.yaml`` in the project's context folder has MLRun 1.x's layout: ``kind: project``, ``metadata.name``,
``spec`` (``description``, ``params``, ``functions``, ``workflows``, ``artifacts``, ``artifact_path``, ``source``,
``subpath``), so a file written by MLRun 1.x loads here and the other way round.  A function entry is a code file
(``url: trainer.py`` with ``name``, ``kind``, ``image``, ``handler``, ``with_repo``, ``requirements``), a function
YAML (``url: fn.yaml``) or a function written inline (``spec:``).  Secrets (``set_secrets``) stay in memory: never
in ``project.yaml``, masked in every record as all secrets are.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError, NotFoundError
from ..model import dump_yaml, parse_struct

#: MLRun's rule for project names: a DNS-1123 label
NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PROJECT_FILE = "project.yaml"
SECRET_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
CODE_SUFFIXES = (".py", ".ipynb")
YAML_SUFFIXES = (".yaml", ".yml", ".json")

_current: MlrunProject | None = None


def validate_project_name(name: str) -> str:
    """``name`` when it is a valid project name (lowercase letters, digits and '-', at most 63); else an error."""
    if not isinstance(name, str) or len(name) > 63 or not NAME_PATTERN.match(name):
        raise InvalidInputError(f"project name {name!r} is not valid: lowercase letters, digits and '-', starting "
                                "and ending with a letter or digit, at most 63 characters")
    return name


def user_name() -> str:
    """The user name MLRun appends for ``user_project=True`` (``$V3IO_USERNAME``, else the login), as a label."""
    import getpass

    user = os.environ.get("V3IO_USERNAME") or getpass.getuser()
    return re.sub(r"[^a-z0-9-]+", "-", user.lower()).strip("-")


class MlrunProject:
    """A project: its name, context folder, parameters, functions, workflows and artifacts (see the module)."""

    kind = "project"

    def __init__(self, name: str, context: str = "./", description: str = "", params: Mapping | None = None,
                 functions: Sequence[Mapping] | None = None, workflows: Sequence[Mapping] | None = None,
                 artifacts: Sequence[Mapping] | None = None, artifact_path: str = "", source: str = "",
                 subpath: str = "", extra: Mapping | None = None):
        self.name = validate_project_name(name)
        self.context = os.path.abspath(context)
        self.description = description
        self.params: dict = dict(params or {})
        self.functions: list[dict] = [dict(f) for f in functions or []]
        self.workflows: list[dict] = [dict(w) for w in workflows or []]
        self.artifacts: list[dict] = [dict(a) for a in artifacts or []]
        self.artifact_path = artifact_path
        self.source = source
        self.subpath = subpath
        self.extra = dict(extra or {})  # other fields of MLRun 1.x's layout: kept for the round trip
        self._secrets: dict[str, str] = {}
        self._secret_files: list[str] = []  # what a KFP step is given: the files, never the values
        self._objects: dict[str, Any] = {}  # function objects made from the entries, by name

    # -- the file -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        spec = {"description": self.description, "params": self.params, "functions": self.functions,
                "workflows": self.workflows, "artifacts": self.artifacts, "artifact_path": self.artifact_path,
                "source": self.source, "subpath": self.subpath, **self.extra}
        return {"kind": "project", "metadata": {"name": self.name}, "spec": spec, "status": {"state": "online"}}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping, context: str = "./", what: str = PROJECT_FILE) -> MlrunProject:
        if not isinstance(data, Mapping) or data.get("kind", "project") != "project" or \
                not isinstance(data.get("metadata"), Mapping) or not isinstance(data.get("spec") or {}, Mapping):
            raise InvalidInputError(f"{what} is not a project file (expected kind: project, metadata and spec)")
        spec = dict(data.get("spec") or {})
        fields = {key: spec.pop(key) for key in ("description", "params", "functions", "workflows", "artifacts",
                                                 "artifact_path", "source", "subpath") if spec.get(key) is not None}
        for key in ("functions", "workflows", "artifacts"):
            entries = fields.get(key, [])
            if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
                raise InvalidInputError(f"{what}: spec.{key} must be a list of mappings")
        return cls(str(data["metadata"].get("name") or ""), context, extra=spec, **fields)

    def save(self, filepath: str = "") -> MlrunProject:
        """Write ``project.yaml`` into the context folder (or ``filepath``), whole or not at all."""
        self.export(filepath or os.path.join(self.context, PROJECT_FILE))
        return self

    def export(self, filepath: str = "") -> None:
        """Write the project's YAML to ``filepath`` (default: ``project.yaml`` in the context folder)."""
        path = filepath or os.path.join(self.context, PROJECT_FILE)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as fp:
            fp.write(self.to_yaml())
        os.replace(temporary, path)

    def __repr__(self) -> str:
        return f"<MlrunProject {self.name} context={self.context}>"

    @property
    def metadata(self):
        """MLRun 1.x's ``project.metadata.name``."""
        from types import SimpleNamespace

        return SimpleNamespace(name=self.name)

    @property
    def spec(self) -> MlrunProject:
        """MLRun 1.x's ``project.spec.params``, ``.artifact_path``, ``.context``...: the same fields, kept flat here."""
        return self

    # -- parameters and secrets ---------------------------------------------------------------------------
    def get_param(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    def set_secrets(self, secrets: Mapping[str, str] | None = None, file_path: str = "") -> None:
        """Secrets for the project's runs: a mapping, or an env file (``KEY=VALUE`` lines); kept in memory only.
        Steps of a workflow on engine ``kfp`` get the files' secrets (read by the step), never a mapping's."""
        found: dict[str, str] = {}
        if file_path:
            if not os.path.isfile(file_path):
                raise InvalidInputError(f"secrets file not found: {file_path}")
            with open(file_path, encoding="utf-8") as fp:
                for number, line in enumerate(fp, 1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    key, sep, value = line.partition("=")
                    if not sep or not SECRET_KEY.match(key.strip()):
                        raise InvalidInputError(f"secrets file {file_path}, line {number}: expected KEY=VALUE")
                    found[key.strip()] = value.strip()
        found.update({str(key): str(value) for key, value in (secrets or {}).items()})
        self._secrets.update(found)
        if file_path:
            self._secret_files.append(os.path.abspath(file_path))

    # -- functions ----------------------------------------------------------------------------------------
    def set_function(self, func: Any = None, name: str = "", kind: str = "", image: str = "", handler: str = "",
                     with_repo: bool = False, tag: str = "", requirements: Sequence[str] | None = None):
        """Add (or replace) a function: a ``.py``/``.ipynb`` path (relative to the context folder), a function
        YAML, a function object, or (``func`` omitted) a new function of ``kind`` (``kind='serving'``); return the
        function object.  ``with_repo``: the code is read from the
        project's folder at each run instead of being embedded."""
        from ..functions import Function, new_function
        from ..functions.base import check_name

        if not func and kind:  # a function of that kind made here (a serving function, to add models to)
            func = new_function(name=check_name(name), kind=kind, image=image, handler=handler or None,
                                requirements=requirements)
        if isinstance(func, Function):
            name = check_name(name or func.metadata.name)
            entry = {"name": name, "spec": func.to_dict(strip=True)}
        elif isinstance(func, str) and func:
            if not func.endswith(CODE_SUFFIXES + YAML_SUFFIXES):
                raise InvalidInputError(f"set_function: {func!r} is not a .py/.ipynb file, a function YAML or a "
                                        "function object")
            if not os.path.isfile(self._path(func)):
                raise InvalidInputError(f"set_function: file not found: {func}")
            stem = os.path.splitext(os.path.basename(func))[0]
            name = check_name(name or stem.replace("_", "-").lower())
            entry = {"url": os.path.relpath(self._path(func), self.context) if not os.path.isabs(func) else func,
                     "name": name}
            entry.update({k: v for k, v in (("kind", kind), ("image", image), ("handler", handler),
                                            ("with_repo", with_repo), ("tag", tag),
                                            ("requirements", list(requirements or []))) if v})
        else:
            raise InvalidInputError("set_function needs a .py/.ipynb path, a function YAML or a function object")
        self.functions = [f for f in self.functions if f.get("name") != name] + [entry]
        self._objects.pop(name, None)
        fn = self.get_function(name)
        if isinstance(func, Function):
            self._objects[name] = func
            func.metadata.project = self.name
            fn = func
        return fn

    def get_function(self, key: str):
        """The function object named ``key`` (made from its entry once, then kept)."""
        if key in self._objects:
            return self._objects[key]
        entry = next((f for f in self.functions if f.get("name") == key), None)
        if entry is None:
            known = ", ".join(repr(f.get("name")) for f in self.functions) or "none"
            raise NotFoundError(f"project {self.name!r} has no function {key!r} (functions: {known})")
        fn = self._objects[key] = self._make_function(entry)
        return fn

    def list_functions(self) -> list:
        return [self.get_function(f["name"]) for f in self.functions if f.get("name")]

    def _make_function(self, entry: Mapping):
        from ..functions import code_to_function, import_function, new_function

        name, url = entry.get("name", ""), entry.get("url", "")
        if isinstance(entry.get("spec"), Mapping):
            fn = new_function(name=name, runtime=entry["spec"])
        elif url.endswith(YAML_SUFFIXES):
            fn = import_function(self._path(url), new_name=name or None)
        elif url.endswith(CODE_SUFFIXES):
            fn = code_to_function(name, filename=self._path(url), kind=entry.get("kind") or "job",
                                  handler=entry.get("handler") or "", image=entry.get("image") or "",
                                  requirements=entry.get("requirements") or None,
                                  embed_code=not entry.get("with_repo"))
        else:
            raise InvalidInputError(f"project {self.name!r}: function {name!r} has neither a code file, a function "
                                    "YAML nor an inline spec")
        command = fn.spec.command
        if command and "://" not in command and not os.path.isabs(command) and os.path.isfile(self._path(command)):
            fn.spec.command = self._path(command)  # a function's file is the project's, wherever the run starts
        fn.metadata.project = self.name
        if entry.get("tag"):
            fn.metadata.tag = entry["tag"]
        return fn

    def _path(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.context, self.subpath, path)

    # -- running ------------------------------------------------------------------------------------------
    def run_function(self, function: Any, handler: str | None = None, name: str = "", params: Mapping | None = None,
                     hyperparams: Mapping | None = None, hyper_param_options=None, inputs: Mapping | None = None,
                     outputs: Sequence[str] | Mapping | None = None, workdir: str = "", labels: Mapping | None = None,
                     base_task=None, watch: bool = True, local: bool | None = True, verbose: bool | None = None,
                     selector: str = "", artifact_path: str = "", returns: Sequence[str] | None = None, **kwargs):
        """Run a function of the project (by name, or a function object) with the project's parameters (run
        ``params`` win), secrets and artifact path; the run carries the project's name.  Inside a workflow
        run by the ``kfp`` engine this adds a pipeline step instead (``outputs``: the keys the next steps
        read, as ``mlrun_component`` takes them) and returns it; ``step.outputs[KEY]`` works on both."""
        from . import pipelines

        fn = self.get_function(function) if isinstance(function, str) else function
        params = {**self.params, **dict(params or {})}
        artifact_path = artifact_path or self._artifact_path()
        context = pipelines.pipeline_context
        if context.engine == "kfp" and context.workflow_id:
            return pipelines.kfp_step(self, fn, handler=handler, name=name, params=params, inputs=inputs,
                                      outputs=outputs or returns or (), hyperparams=hyperparams,
                                      hyper_param_options=hyper_param_options, selector=selector,
                                      artifact_path=artifact_path, labels=labels)
        labels = {**dict(labels or {}), **({"workflow": context.workflow_id} if context.workflow_id else {})}
        if local is not False and fn.kind == "job":  # MLRun 1.x's local run of a job: in this process
            fn = self._local_copy(fn)
        run = fn.run(base_task, handler=handler, name=name or fn.metadata.name, project=self.name, params=params,
                     inputs=dict(inputs or {}), hyperparams=hyperparams, hyper_param_options=hyper_param_options,
                     selector=selector, local=True, workdir=workdir, labels=labels, artifact_path=artifact_path,
                     returns=returns, secrets=dict(self._secrets) or None, **kwargs)
        if context.workflow_id:
            context.steps.append(run)
        return run

    def _local_copy(self, fn):
        from ..functions import new_function

        key = f"local:{id(fn)}"
        if key not in self._objects:
            self._objects[key] = new_function(runtime=fn.to_dict(), kind="local")
        return self._objects[key]

    def _artifact_path(self) -> str:
        path = self.artifact_path
        if path and "://" not in path and not os.path.isabs(path):
            path = os.path.join(self.context, path)
        return path

    def deploy_function(self, function: Any, **kwargs):
        """Deploy a function of the project (by name or object): ``fn.deploy()`` (a served function here)."""
        fn = self.get_function(function) if isinstance(function, str) else function
        return fn.deploy(**kwargs)

    # -- workflows ----------------------------------------------------------------------------------------
    def set_workflow(self, name: str, workflow_path: str, handler: str | None = None, engine: str | None = None,
                     args_schema: Sequence | None = None, **kwargs) -> None:
        """Add (or replace) a workflow: a Python file (relative to the context folder) defining ``pipeline`` (or
        ``handler``), run by ``project.run(name)``."""
        from ..functions.base import check_name

        check_name(name, "workflow name")
        if not os.path.isfile(self._path(workflow_path)):
            raise InvalidInputError(f"set_workflow: workflow file not found: {workflow_path}")
        entry = {"name": name, "path": workflow_path}
        entry.update({k: v for k, v in (("handler", handler), ("engine", engine), ("args_schema", args_schema))
                      if v})
        entry.update(kwargs)
        self.workflows = [w for w in self.workflows if w.get("name") != name] + [entry]

    def run(self, name: str = "", workflow_path: str = "", arguments: Mapping | None = None,
            artifact_path: str = "", workflow_handler: str | None = None, engine: str | None = None,
            watch: bool = True, dirty: bool = False, timeout: float | None = None, **kwargs):
        """Run a workflow (by ``name`` or ``workflow_path``) with ``arguments``; engine ``local`` (steps run here,
        in order) or ``kfp`` (compiled to a KFP pipeline; KFP's local runner unless an endpoint is configured).
        Returns the workflow's run (``run_id``, ``state``, ``steps``)."""
        from .pipelines import run_workflow

        if workflow_path:
            entry = {"name": name or os.path.splitext(os.path.basename(workflow_path))[0], "path": workflow_path}
        else:
            if not name and len(self.workflows) == 1:
                name = self.workflows[0]["name"]
            entry = next((w for w in self.workflows if w.get("name") == name), None)
            if entry is None:
                known = ", ".join(repr(w.get("name")) for w in self.workflows) or "none"
                raise NotFoundError(f"project {self.name!r} has no workflow {name!r} (workflows: {known})")
        _make_current(self)  # the workflow file's mlrun.get_current_project()
        return run_workflow(self, entry, arguments=dict(arguments or {}), artifact_path=artifact_path,
                            handler=workflow_handler or entry.get("handler"),
                            engine=engine or entry.get("engine") or "local")

    # -- artifacts and runs -------------------------------------------------------------------------------
    def log_artifact(self, item, body=None, local_path: str = "", artifact_path: str = "", tag: str = "",
                     upload: bool = True, labels: Mapping | None = None, format: str | None = None,
                     **kwargs) -> dict:
        """Log an artifact of the project (a run of its own, named ``log-artifact``, records it) under the
        project's artifact path; it is listed in ``spec.artifacts``.  Returns the artifact's entry."""
        from ..run import run_start

        logged: dict = {}

        def log(context):
            logged.update(context.log_artifact(item, body=body, local_path=local_path or None, labels=labels,
                                               format=format, upload=upload, **kwargs))

        run = run_start(handler=log, name="log-artifact", project=self.name,
                        artifact_path=artifact_path or self._artifact_path(), labels={"tag": tag} if tag else None,
                        secrets=dict(self._secrets) or None)
        if run.state() == "error":
            raise InvalidInputError(f"cannot log artifact: {run.error}")
        entry = {k: v for k, v in logged.items() if k in ("key", "kind", "target_path", "format", "size", "sha256")}
        self.artifacts = [a for a in self.artifacts if a.get("key") != entry.get("key")] + [entry]
        return logged

    def list_artifacts(self, name: str = "", tag: str = "", labels=None):
        """The artifacts of the project's runs (newest first), as the run store lists them."""
        from ..rundb import get_run_db

        return get_run_db().list_artifacts(name=name, project=self.name, tag=tag, labels=labels)

    def get_artifact(self, key: str, tag: str = "") -> dict:
        """The newest artifact of the project logged as ``key``; ``NotFoundError`` when there is none."""
        found = [a for a in self.list_artifacts(name=key, tag=tag) if a.get("key") == key]
        if not found:
            raise NotFoundError(f"project {self.name!r} has no artifact {key!r}")
        return dict(found[0])

    def get_artifact_uri(self, key: str, tag: str = "") -> str:
        """The ``store://`` URI of the project's artifact ``key`` (the version holding ``tag``, else the newest), as
        MLRun 1.x gives it: usable wherever a URL is (a run's input, ``get_dataitem``, ``get_model``)."""
        from ..rundb.artifactstore import store_uri

        entry = self.get_artifact(key, tag)
        return store_uri(entry.get("kind", ""), self.name, key, entry.get("iteration", 0), tag)

    def list_runs(self, name: str = "", labels=None, state: str = "", **kwargs):
        """The project's runs in the run store (``labels``: ``workflow=ID`` for one workflow's steps)."""
        from ..rundb import get_run_db

        return get_run_db().list_runs(name=name, project=self.name, labels=labels, state=state, **kwargs)


# -- making and loading -----------------------------------------------------------------------------------
def _project_name(name: str, user_project: bool) -> str:
    if user_project:
        name = f"{name}-{user_name()}"
    return validate_project_name(name)


def new_project(name: str, context: str = "./", init_git: bool = False, user_project: bool = False,
                description: str = "", params: Mapping | None = None, save: bool = True, overwrite: bool = False,
                **kwargs) -> MlrunProject:
    """A new project in the folder ``context`` (``project.yaml`` written unless ``save=False``); a folder
    holding a project already is refused unless ``overwrite``.  It becomes the current project."""
    name = _project_name(name, user_project)
    if not overwrite and os.path.isfile(os.path.join(context, PROJECT_FILE)):
        raise InvalidInputError(f"{os.path.join(context, PROJECT_FILE)} exists: load it (load_project, "
                                "get_or_create_project) or pass overwrite=True")
    project = MlrunProject(name, context, description=description, params=params,
                           artifact_path=kwargs.pop("artifact_path", ""))
    os.makedirs(project.context, exist_ok=True)
    if init_git and not os.path.isdir(os.path.join(project.context, ".git")):
        import subprocess

        subprocess.run(["git", "init", "--quiet", project.context], check=True, timeout=60)
    if save:
        project.save()
    return _make_current(project)


def load_project(context: str = "./", url: str | None = None, name: str | None = None, secrets: Mapping | None = None,
                 init_git: bool = False, subpath: str = "", clone: bool = False, user_project: bool = False,
                 save: bool = True, **kwargs) -> MlrunProject:
    """The project in ``context``, first brought there from ``url`` when given: a folder, a ``project.yaml``
    file, a ``.zip``/``.tar.gz`` archive, or a git repository (``git://``, ``file://``, a local repository).
    ``name`` renames it (with ``user_project``, the user's name appended).  It becomes the current project."""
    from .source import fetch

    context = os.path.abspath(context)
    if clone and os.path.isdir(context) and url:
        import shutil

        here = os.path.realpath(os.getcwd())
        if os.path.commonpath([here, os.path.realpath(context)]) == os.path.realpath(context):
            raise InvalidInputError(f"clone=True would delete {context}, which holds the working directory: "
                                    "give the project a folder of its own")
        shutil.rmtree(context)
    if url and url.endswith((".yaml", ".yml")) and not url.startswith("git://"):
        path = url.removeprefix("file://")
        if not os.path.isfile(path):
            raise NotFoundError(f"project file not found: {url}")
    else:
        if url:
            fetch(url, context)
        path = os.path.join(context, subpath, PROJECT_FILE)
        if not os.path.isfile(path):
            raise NotFoundError(f"no {PROJECT_FILE} in {os.path.dirname(path)}")
    with open(path, encoding="utf-8") as fp:
        project = MlrunProject.from_dict(parse_struct(fp.read(), path), context, path)
    if subpath:
        project.subpath = subpath
    if name or user_project:
        project.name = _project_name(name or project.name, user_project)
    for fn in project.functions:  # a function's file must be where the entry says, before any run
        if fn.get("url", "").endswith(CODE_SUFFIXES + YAML_SUFFIXES) and "://" not in fn["url"] and \
                not os.path.isfile(project._path(fn["url"])):
            raise NotFoundError(f"project {project.name!r}: function {fn.get('name')!r}: file not found: {fn['url']}")
    if secrets:
        project.set_secrets(secrets)
    if save and url and os.path.isdir(context) and not os.path.isfile(os.path.join(context, PROJECT_FILE)):
        project.save()
    return _make_current(project)


def get_or_create_project(name: str, context: str = "./", url: str | None = None, secrets: Mapping | None = None,
                          init_git: bool = False, subpath: str = "", clone: bool = False, user_project: bool = False,
                          save: bool = True, **kwargs) -> MlrunProject:
    """The project in ``context`` (or from ``url``) when there is one, else a new project named ``name``."""
    if url or os.path.isfile(os.path.join(context, subpath, PROJECT_FILE)):
        return load_project(context, url, name=name, secrets=secrets, subpath=subpath, clone=clone,
                            user_project=user_project, save=save)
    project = new_project(name, context, init_git=init_git, user_project=user_project, save=save, **kwargs)
    if secrets:
        project.set_secrets(secrets)
    return project


def run_function(function: Any, *args, **kwargs):
    """MLRun 1.x's ``mlrun.run_function``: a function of the current project named ``function`` runs as
    ``project.run_function`` does (its parameters, secrets, artifact path; a step inside a KFP workflow); anything
    else (a function object, a file, a URL) as ``mlrun.run.run_function`` runs it."""
    project = _current
    if isinstance(function, str) and project is not None and (
            function in project._objects or any(f.get("name") == function for f in project.functions)):
        return project.run_function(function, *args, **kwargs)
    from ..run import run_function as run

    return run(function, *args, **kwargs)


def get_current_project(silent: bool = False) -> MlrunProject | None:
    """The project made or loaded last in this process (``None`` when ``silent`` and there is none)."""
    if _current is None and not silent:
        raise NotFoundError("there is no current project: create or load one first (new_project, load_project, "
                            "get_or_create_project)")
    return _current


def _make_current(project: MlrunProject) -> MlrunProject:
    global _current
    _current = project
    return project
