"""Artifacts of a run: typed artifacts (``base``: ``Artifact``, ``TableArtifact``, ``ChartArtifact``,
``PlotArtifact``, ``PlotlyArtifact``; ``chart``: a chart as self-contained HTML), datasets (``dataset``:
``DatasetArtifact``), models (``model``: ``ModelArtifact``, ``get_model``, ``update_model``) and writing one
into a run (``writer``).

Used by ``RunContext.log_artifact`` and by a sweep writing its results table into the parent run.
"""
from __future__ import annotations

from .base import (
    FORMAT_VIEWERS,
    VIEWERS,
    Artifact,
    ChartArtifact,
    PlotArtifact,
    PlotlyArtifact,
    TableArtifact,
    check_viewer,
    viewer_of,
)
from .dataset import DatasetArtifact
from .model import ModelArtifact, get_model, update_model
from .writer import check_inside, check_key, file_sha256, log_artifact, output_path, target_of

__all__ = ["FORMAT_VIEWERS", "VIEWERS", "Artifact", "ChartArtifact", "DatasetArtifact", "ModelArtifact", "PlotArtifact",
           "PlotlyArtifact", "TableArtifact", "check_inside", "check_key", "check_viewer", "file_sha256", "get_model",
           "log_artifact", "output_path", "target_of", "update_model", "viewer_of"]
