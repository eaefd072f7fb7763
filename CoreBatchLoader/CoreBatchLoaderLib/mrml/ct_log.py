"""The well's CT log in a Slicer scene: a table node over ``well_ct_log.csv`` and a plot chart.

The table node reads the resampled log (:mod:`..well.ct_log`) through Slicer's table storage
node — the CSV beside ``scene.mrml`` with its ``.schema.csv`` (doubles, units, empty cells as
NaN), so the scene file only names it; its columns are named as in the LAS file, the unit in the
header (``CTMEAN[HU]``: :data:`..analysis.ct_log.CURVES`).  The chart plots CT mean, P10 and P90 against depth (a scatter
series without markers is a line in table order: depth order); Slicer's plot view shows it
beside the cores (the module switches the layout after a batch with depths).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from ..analysis.ct_log import DEPTH, STATISTIC_CURVES, statistic

LOG_CHART_NAME = "CT log"
SERIES = (  # mnemonic, colour (r, g, b in 0–1), line width, dashed
    ("CTMEAN", (0.12, 0.37, 0.75), 2.0, False),
    ("CTP10", (0.55, 0.70, 0.88), 1.0, True),
    ("CTP90", (0.55, 0.70, 0.88), 1.0, True),
)


def add_log_plot(scene: Any, table_path: Path, well_name: str, load_data: bool = False) -> Tuple[Any, Any]:
    """(table node, plot chart node) of the well's CT log; ``load_data`` reads the table now
    (a live scene), else the scene file only points at it."""
    table = add_table(scene, table_path, "%s CT log" % well_name, load_data)
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "%s %s" % (well_name, LOG_CHART_NAME))
    chart.SetTitle("%s: CT log" % well_name)
    chart.SetXAxisTitle("depth (m)")
    chart.SetYAxisTitle("CT number (HU)")
    for mnemonic, colour, width, dashed in SERIES:
        add_line(scene, chart, table, "%s %s" % (well_name, mnemonic), DEPTH.column,
                 STATISTIC_CURVES[statistic(mnemonic)].column, colour, width, dashed)
    return table, chart


def add_table(scene: Any, path: Path, name: str, load_data: bool = True) -> Any:
    """A table node over the CSV ``path`` (its ``.schema.csv`` beside it gives the columns' types),
    read now with ``load_data``."""
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLTableStorageNode")
    storage.SetFileName(str(path))
    table.SetAndObserveStorageNodeID(storage.GetID())
    if load_data and not storage.ReadData(table):
        raise RuntimeError("Slicer's table reader could not read %s" % path)
    return table


def add_line(scene: Any, chart: Any, table: Any, name: str, x_column: str, y_column: str,
             colour: Tuple[float, float, float], width: float, dashed: bool = False) -> Any:
    """A series of ``chart``: ``y_column`` against ``x_column`` of ``table`` as a line (a scatter
    series without markers is a line in table order)."""
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(x_column)
    series.SetYColumnName(y_column)
    series.SetPlotType(series.PlotTypeScatter)
    series.SetMarkerStyle(series.MarkerStyleNone)
    series.SetLineWidth(width)
    series.SetColor(*colour)
    if dashed:
        series.SetLineStyle(series.LineStyleDash)
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def add_well_log(scene: Any, well: Any, well_name: str) -> Tuple[Optional[Path], Optional[str]]:
    """After a batch: the CT log's table and chart into a live ``scene`` when the batch's
    ``well`` result (``batch.well_steps.WellResult``) wrote one; (LAS path or None, chart ID or None)."""
    log = getattr(well, "log", None)
    if log is None or log.table is None:
        return None, None
    _, chart = add_log_plot(scene, log.table, well_name, load_data=True)
    return log.las, chart.GetID()


def log_series_columns(chart: Any) -> Dict[str, str]:
    """Series name → its Y column, for people and tests reading a chart back."""
    scene = chart.GetScene()
    return {scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(n)).GetName():
            scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(n)).GetYColumnName()
            for n in range(chart.GetNumberOfPlotSeriesNodes())}
