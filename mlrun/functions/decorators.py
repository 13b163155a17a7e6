"""``@mlrun.handler``: how a handler's run is recorded, said in its code (MLRun 1.x's decorator)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def handler(labels: Mapping[str, str] | None = None, outputs: Sequence[str] | None = None, inputs=None):
    """Mark a handler: ``labels`` are set on its runs, ``outputs`` name what it returns (a tuple split by position,
    a dict picked by name: ``loader.record_result``), as ``fn.run(returns=[...])`` would.  ``inputs`` (type hints of
    data items in MLRun 1.x) is accepted: an argument named as an input gets its data item here.

        @mlrun.handler(outputs=["accuracy", "loss"])
        def train(p1=1):
            return p1 * 2, 1 / p1

    The function itself is unchanged: called directly it returns what it returns.
    """
    if callable(labels) and outputs is None and inputs is None:  # used bare: @mlrun.handler
        return handler()(labels)

    def mark(fn: Callable) -> Callable:
        fn.mlrun_labels = dict(labels or {})
        fn.mlrun_outputs = list(outputs or [])
        return fn

    return mark
