"""The depth match's files under the output folder (a module of names alone, so the command's
parser imports them without the matcher's code; the picture's own, the report's too)."""
from __future__ import annotations

from ..report.correlation_svg import FOLDER, PICTURE_NAME  # noqa: F401 (the report shows the picture)

SHIFTS_NAME = "depth_shifts.csv"
DEPTHS_NAME = "depths_log.csv"
LAS_SHIFTED_NAME = "well_ct_log_shifted.las"
FIT_NAME = "hu_density_fit.json"
TABLE_NAME = "correlation.csv"  # the correlation picture's curves, for Slicer's plot (with its .schema.csv)
