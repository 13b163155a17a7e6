"""Hyper-parameter runs: sweep a run over grids, lists or random draws of parameters, in parallel.

    from mlrun import run_function
    parent = run_function("train.py", hyperparams={"p1": [1, 2, 3], "p2": ["a", "b"]},
                          hyper_options={"selector": "max.accuracy", "parallel": 2})
    parent.outputs["best_iteration"]

Modules: ``strategies`` (grid, list, random), ``sources`` (``-x`` lists, parameter files),
``selection`` (selector, stop condition), ``executors`` (local pool, Dask), ``sweep`` (the driver).
"""
from .sweep import RESULTS_KEY, Sweep

__all__ = ["Sweep", "RESULTS_KEY"]
