"""The panel's Depth match section: choose the wireline LAS and curve, match, see the shifts and
the correlation plot, apply (the cores move in the scene).

A section of its own (docs/slicer.md, "Adding a panel section"): the ``.ui``'s ``depthMatch…``
widgets, bound to the parameter node's ``depthMatch…`` fields; the work is the logic's
(:meth:`CoreBatchLoaderLogic.depthMatch`, :meth:`~CoreBatchLoaderLogic.applyDepthMatch`); the
engine is imported only when it acts.
"""
from pathlib import Path
from typing import Callable, Dict, List

import qt
import slicer
from slicer.i18n import tr as _

from CoreBatchLoaderLib.defaults import DEFAULT_CURVE, DEFAULT_MAX_SHIFT_M
from CoreBatchLoaderWidgets.binding import isSet as _isSet


class DepthMatchLogic:
    """The depth match's console API, part of ``CoreBatchLoaderLogic`` (a base class of it: the
    module file stays one screen of panel and batch); the engine does the work."""

    depthMatchResult = None  # the last match's DepthMatchResult: its files, calibration, cores
    depthMatchChartID = None  # its correlation plot in the scene

    def depthMatch(self, outputDir, lasFile, curve=DEFAULT_CURVE, maxShift=DEFAULT_MAX_SHIFT_M, calibrationFile=None,
                   addToScene=True, wellName=None) -> List[Dict[str, object]]:
        """Shift every core of the well converted into ``outputDir`` (with a depth file: driller's
        depths) onto the log depth of ``lasFile``'s ``curve`` — what ``corebatchloader
        depth-match`` does — and return the shifts: a dict per core with the columns of
        ``depth_match/depth_shifts.csv`` and ``why``.  ``calibrationFile``: scanned standards (CSV:
        density, hu), else fitted from the logs.  ``addToScene``: the shifts as a table node and
        the correlation as a plot chart (``depthMatchChartID``).  Raises ``DepthMatchError`` (one
        line) when it cannot start.  :meth:`applyDepthMatch` then moves the cores."""
        from CoreBatchLoaderLib.depth_match.run import DepthMatchOptions, depth_match, shift_rows

        calibration = Path(calibrationFile) if calibrationFile is not None and _isSet(calibrationFile) else None
        result = depth_match(Path(outputDir), DepthMatchOptions(Path(lasFile), str(curve), float(maxShift),
                                                                calibration))
        self.depthMatchResult, self.depthMatchChartID = result, None
        if addToScene:
            from CoreBatchLoaderLib.mrml.depth_match import add_depth_match
            _, _, chart = add_depth_match(slicer.mrmlScene, result.files["shifts"], result.files["table"],
                                          wellName or Path(outputDir).name)
            self.depthMatchChartID = chart.GetID()
        return shift_rows(result.cores)

    def applyDepthMatch(self, inputDir, outputDir, **convertArguments) -> List[object]:
        """Convert again with ``depth_match/depths_log.csv`` (the cores at log depth): the well
        LAS, the logs' depths, the unwraps' headers, the pictures and the scene move; no core is
        converted again.  ``convertArguments`` as ``convert`` (``addToScene`` reloads the well)."""
        from CoreBatchLoaderLib.depth_match.names import DEPTHS_NAME, FOLDER

        return self.convert(inputDir, outputDir, depthFile=str(Path(outputDir) / FOLDER / DEPTHS_NAME),
                            **convertArguments)


class DepthMatchSection:
    """``ui.depthMatchTable``: one row per core (shift, log top, confidence, status)."""

    def __init__(self, ui, logic, parameterNode: Callable[[], object]) -> None:
        self.ui, self.logic, self._parameterNode = ui, logic, parameterNode
        table = ui.depthMatchTable
        columns = [_("Core"), _("Shift (m)"), _("Log top (m)"), _("Confidence"), _("Status")]
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.horizontalHeader().setStretchLastSection(True)
        ui.depthMatchRunButton.connect("clicked(bool)", self.onMatch)
        ui.depthMatchApplyButton.connect("clicked(bool)", self.onApply)

    def onMatch(self) -> None:
        p = self._parameterNode()
        if not p or not _isSet(p.outputDir) or not _isSet(p.depthMatchLasFile):
            self.ui.depthMatchStatusLabel.text = _("Choose the output folder and the wireline LAS file first.")
            return
        from CoreBatchLoaderLib.depth_match.run import DepthMatchError

        try:
            rows = self.logic.depthMatch(p.outputDir, p.depthMatchLasFile, p.depthMatchCurve, p.depthMatchMaxShift,
                                         p.depthMatchCalibrationFile)
        except (DepthMatchError, ImportError) as exc:
            self.ui.depthMatchStatusLabel.text = _("Not matched: {error}").format(error=exc)
            self.ui.depthMatchApplyButton.enabled = False
            return
        self.show(rows)
        counts = {status: sum(row["status"] == status for row in rows) for status in ("matched", "ambiguous")}
        self.ui.depthMatchStatusLabel.text = _(
            "{matched} cores matched, {ambiguous} ambiguous (featureless: kept at their neighbours' shift); "
            "Apply moves them to log depth.").format(matched=counts["matched"], ambiguous=counts["ambiguous"])
        self.ui.depthMatchApplyButton.enabled = True
        if self.logic.depthMatchChartID:
            slicer.modules.plots.logic().ShowChartInLayout(slicer.mrmlScene.GetNodeByID(self.logic.depthMatchChartID))

    def show(self, rows: List[Dict[str, object]]) -> None:
        table = self.ui.depthMatchTable
        table.setRowCount(len(rows))
        for n, row in enumerate(rows):
            cells = (row["core"], "%+.3f" % row["shift_m"], "%.3f" % row["log_top_m"], "%.2f" % row["confidence"],
                     row["status"])
            for column, text in enumerate(cells):
                item = qt.QTableWidgetItem(str(text))
                item.setFlags(qt.Qt.ItemIsSelectable | qt.Qt.ItemIsEnabled)
                if row.get("why"):
                    item.setToolTip(str(row["why"]))
                table.setItem(n, column, item)

    def onApply(self) -> None:
        p = self._parameterNode()
        if not p or not _isSet(p.inputDir) or not _isSet(p.outputDir):
            return
        self.ui.depthMatchApplyButton.enabled = False
        self.ui.depthMatchStatusLabel.text = _("Moving the cores to log depth…")
        slicer.app.processEvents()
        with slicer.util.tryWithErrorDisplay(_("Could not apply the depth match"), waitCursor=True):
            records = self.logic.applyDepthMatch(p.inputDir, p.outputDir, addToScene=True,
                                                 sceneMemoryGB=p.sceneMemoryGB)
            self.ui.depthMatchStatusLabel.text = _("{count} cores at log depth; none converted again.").format(
                count=sum(r.status in ("converted", "skipped") for r in records))
