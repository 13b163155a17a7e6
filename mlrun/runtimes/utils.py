"""Names MLRun 1.x code imports from ``mlrun.runtimes.utils``: ``RunError`` (a run that ended in state ``error``)."""
from ..errors import RunError

__all__ = ["RunError"]
