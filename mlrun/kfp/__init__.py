"""Kubeflow Pipelines: the files a step leaves for KFP (``mlrun run --kfp``) and a step builder (``mlrun_op``).

Importing this package stays cheap: ``kfp`` is imported only when ``mlrun_op`` builds a step.
"""
from .ops import DEFAULT_IMAGE, component_spec, mlrun_op
from .outputs import KfpOutputs, kfp_metrics, kfp_ui_metadata, metric_names

__all__ = ["mlrun_op", "component_spec", "DEFAULT_IMAGE", "KfpOutputs", "kfp_metrics", "kfp_ui_metadata",
           "metric_names"]
