"""mlrun: write ML code once against a run context; run it anywhere; record every run.

    from mlrun import get_or_create_ctx
    ctx = get_or_create_ctx("mytask")
    p1 = ctx.get_param("p1", 1)
    ctx.log_output("accuracy", p1 * 2)
    ctx.commit()
"""
from .context import MLClientCtx, RunContext, get_or_create_ctx
from .errors import MLRunError
from .model import RunRecord

__version__ = "0.1.0"

__all__ = ["get_or_create_ctx", "RunContext", "MLClientCtx", "RunRecord", "MLRunError", "run_function",
           "get_run_db", "run_start", "run_local", "new_task", "NewRun", "RunTemplate", "RunObject", "new_function",
           "code_to_function", "import_function", "function_to_module", "handler", "mlrun_op", "get_dataitem",
           "DataItem", "new_project", "get_or_create_project", "load_project", "get_current_project", "MlrunProject",
           "__version__"]

#: names loaded on first use (module, attribute), so `import mlrun` stays as cheap as importing PyYAML
_LAZY = {"run_function": "projects", "run_start": "run", "run_local": "run", "new_task": "templates",
         "NewRun": "templates", "RunTemplate": "templates", "RunObject": "runobject",
         "new_function": "functions", "code_to_function": "functions", "import_function": "functions",
         "function_to_module": "functions", "handler": "functions.decorators", "mlrun_op": "kfp",
         "get_dataitem": "datastore", "DataItem": "datastore",
         "new_project": "projects", "get_or_create_project": "projects", "load_project": "projects",
         "get_current_project": "projects", "MlrunProject": "projects"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name == "get_run_db":
        from .rundb import get_run_db

        return get_run_db
    raise AttributeError(f"module 'mlrun' has no attribute {name!r}")
