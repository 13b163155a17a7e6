"""Functions as objects (MLRun 1.x): code plus how to run it, made once, run locally, deployed, exported.

    fn = mlrun.code_to_function("trainer", filename="trainer.py", kind="job", handler="train")
    run = fn.run(params={"p1": 5}, local=True)
    fn.export("trainer.yaml")

``new_function``, ``code_to_function``, ``import_function``, ``function_to_module`` make and load them (``create``);
``Function`` is the base class (``base``); the kinds (``local``, ``job``, ``dask``, ``nuclio``, ``remote``) are in
one registry, ``kinds.FUNCTION_KINDS``, which other packages add their kinds to (``register_kind``).
"""
from __future__ import annotations

from .base import BuildSpec, Function, FunctionMetadata, FunctionSpec, FunctionStatus
from .create import code_to_function, function_to_module, import_function, new_function
from .kinds import FUNCTION_KINDS, function_class, register_kind

__all__ = ["Function", "FunctionMetadata", "FunctionSpec", "FunctionStatus", "BuildSpec", "new_function",
           "code_to_function", "import_function", "function_to_module", "FUNCTION_KINDS", "function_class",
           "register_kind"]
