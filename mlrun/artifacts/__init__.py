"""Artifacts of a run: typed artifacts (``base``: ``Artifact``, ``TableArtifact``, ``ChartArtifact``,
``PlotArtifact``; ``chart``: a chart as self-contained HTML) and writing one into a run (``writer``).

Used by ``RunContext.log_artifact`` and by a sweep writing its results table into the parent run.
"""
from __future__ import annotations

from .base import (
    FORMAT_VIEWERS,
    VIEWERS,
    Artifact,
    ChartArtifact,
    PlotArtifact,
    TableArtifact,
    check_viewer,
    viewer_of,
)
from .writer import check_inside, check_key, file_sha256, log_artifact, output_path, target_of

__all__ = ["FORMAT_VIEWERS", "VIEWERS", "Artifact", "ChartArtifact", "PlotArtifact", "TableArtifact", "check_inside",
           "check_key", "check_viewer", "file_sha256", "log_artifact", "output_path", "target_of", "viewer_of"]
