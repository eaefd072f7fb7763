"""What the command and the Slicer panel start with, importable without numpy or pydicom.

The Slicer module reads these when Slicer starts (its parameter node's defaults), before any
batch: importing them must not load the engine (``Testing/test_slicer_module_static.py``).
"""
from __future__ import annotations

import os

DEFAULT_WORKERS = min(64, os.cpu_count() or 1)  # worker processes of a batch
DEFAULT_RADIUS_TEXT = "0.9"  # where a core is unwrapped: a fraction of its radius (analysis.unwrap_rings)
DEFAULT_MAX_SHIFT_M = 1.5  # the depth match: the largest shift of a core either way (depth_match.solver)
DEFAULT_CURVE = "RHOB"  # the depth match's wireline curve (bulk density)
