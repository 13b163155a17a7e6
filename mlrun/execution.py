"""Where MLRun 1.x code imports the run context's class from: ``from mlrun.execution import MLClientCtx``."""
from .context import MLClientCtx, RunContext

__all__ = ["MLClientCtx", "RunContext"]
