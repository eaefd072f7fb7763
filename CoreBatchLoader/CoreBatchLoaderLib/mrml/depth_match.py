"""The depth match in a Slicer scene: its shifts as a table node, the correlation as a plot chart.

Read from the files ``depth-match`` wrote (``depth_match/depth_shifts.csv`` and
``correlation.csv``, each with its ``.schema.csv``) through Slicer's table storage node; the
chart plots the wireline and the cores' CT pseudo-log against depth, after the shifts (solid)
and before (dashed), as the report's correlation picture does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Tuple

from .ct_log import add_line, add_table

CHART_NAME = "depth match"
SERIES = (  # column of correlation.csv (0 depth), colour, width, dashed
    (1, (0.12, 0.16, 0.20), 1.5, False),
    (2, (0.12, 0.37, 0.75), 2.0, False),
    (3, (0.85, 0.47, 0.02), 1.0, True),
)


def add_depth_match(scene: Any, shifts_csv: Path, correlation_csv: Path, well_name: str) -> Tuple[Any, Any, Any]:
    """(shifts table node, correlation table node, plot chart node) of a depth match, read now."""
    shifts = add_table(scene, shifts_csv, "%s depth shifts" % well_name)
    curves = add_table(scene, correlation_csv, "%s correlation" % well_name)
    columns = [curves.GetColumnName(n) for n in range(curves.GetNumberOfColumns())]
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "%s %s" % (well_name, CHART_NAME))
    chart.SetTitle("%s: cores on log depth" % well_name)
    chart.SetXAxisTitle("depth (m)")
    chart.SetYAxisTitle(columns[1])
    for column, colour, width, dashed in SERIES:
        add_line(scene, chart, curves, "%s %s" % (well_name, columns[column]), columns[0], columns[column], colour,
                 width, dashed)
    return shifts, curves, chart
