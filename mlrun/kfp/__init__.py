"""Kubeflow Pipelines: the files a step leaves for KFP (``mlrun run --kfp``) and step builders
(``mlrun_op``: a container step; ``mlrun_component``: a Lightweight Python Component).

Importing this package stays cheap: ``kfp`` is imported only when a step is built.
"""
from .component import mlrun_component
from .ops import DEFAULT_IMAGE, component_spec, mlrun_op
from .outputs import KfpOutputs, kfp_metrics, kfp_ui_metadata, metric_names

__all__ = ["mlrun_op", "mlrun_component", "component_spec", "DEFAULT_IMAGE", "KfpOutputs", "kfp_metrics",
           "kfp_ui_metadata", "metric_names"]
