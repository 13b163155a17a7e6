"""The README's shell and Python blocks, run in order as a reader pastes them (the runner: ``docblocks``).

The README's blocks run with copies of ``examples/`` and ``handlers/`` in the reader's folder; a README whose
blocks make every file they need runs from an empty folder, as the documentation's pages do: ``COPIES = ()``.
"""
from __future__ import annotations

import os

from docblocks import block_problems, run_document
from helpers import ROOT

README = os.path.join(ROOT, "README.md")
#: repository folders copied into the reader's folder before the README's blocks run
COPIES = ()


def test_readme_fences_are_tagged_and_markers_known():
    """Commands are ``bash``/``python``; samples, outputs and tables say what they are (``text``, ``yaml``...)."""
    assert block_problems(README) == []


def test_readme_blocks_run_as_pasted(tmp_path):
    ran = run_document(README, tmp_path, copies=COPIES)
    assert len(ran) >= 3, ran  # the markers must not quietly skip the README away
