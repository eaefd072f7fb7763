"""The panel's Results section: a row per core as the batch reports it; a double-click shows the core.

A section of its own (docs/slicer.md, "Adding a panel section"): it gets the ``.ui``'s widgets
and the module's logic, connects its own signals, and imports the engine only when it acts.
"""
from pathlib import Path
from typing import List, Optional

import qt
import slicer
from slicer.i18n import tr as _


class ResultsSection:
    """``ui.resultsTable``: one row per core (name, status, size, time, message)."""

    def __init__(self, ui, logic) -> None:
        self.ui, self.logic = ui, logic
        self._rows: List = []  # the CoreRecord shown in each row
        self._outputDir: Optional[Path] = None
        table = ui.resultsTable
        columns = [_("Core"), _("Status"), _("Size (MB)"), _("Time (s)"), _("Message")]
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.horizontalHeader().setStretchLastSection(True)
        table.connect("cellDoubleClicked(int,int)", self.onDoubleClicked)

    def clear(self, outputDir: Path) -> None:
        """A new batch writes into ``outputDir``."""
        self._rows, self._outputDir = [], outputDir
        self.ui.resultsTable.setRowCount(0)

    def show(self, record) -> None:
        """``record`` (a ``CoreRecord``) in its core's row: a new row, or the core's row again
        when a rerun converts it."""
        table = self.ui.resultsTable
        row = next((i for i, shown in enumerate(self._rows) if shown.name == record.name), None)
        if row is None:
            row = table.rowCount
            table.insertRow(row)
            self._rows.append(record)
        self._rows[row] = record
        message = record.error or "; ".join(record.warnings)
        cells = (record.name, record.status, "%.1f" % (record.bytes / 1e6) if record.bytes else "",
                 "%.1f" % record.seconds, message)
        for column, text in enumerate(cells):
            item = qt.QTableWidgetItem(text)
            item.setFlags(qt.Qt.ItemIsSelectable | qt.Qt.ItemIsEnabled)
            if column == len(cells) - 1:
                item.setToolTip(message)
            table.setItem(row, column, item)
        table.scrollToItem(table.item(row, 0))

    def onDoubleClicked(self, row: int, column: int) -> None:
        """Show a converted core: its node if it is in the scene, else load its NRRD."""
        if not 0 <= row < len(self._rows) or self._outputDir is None:
            return
        record = self._rows[row]
        if record.status not in ("converted", "skipped") or not record.output:
            slicer.util.warningDisplay(_("{core} was not converted: {error}").format(core=record.name,
                                                                                   error=record.error))
            return
        from CoreBatchLoaderLib.mrml import well as well_scene

        node = slicer.mrmlScene.GetNodeByID(self.logic.nodeIDs.get(record.name, ""))
        if node is not None and well_scene.is_proxy(node):
            # A proxy of the placed well: the double-click asks for the core at full resolution.
            try:
                with slicer.util.tryWithErrorDisplay(_("Could not load {core} at full resolution").format(
                        core=record.name)):
                    well_scene.swap_to_full_resolution(slicer.mrmlScene, node)
            except Exception:
                return
        if node is None:
            try:
                node = slicer.util.loadVolume(str(self._outputDir / record.output), {"name": record.name})
            except Exception as exc:
                slicer.util.errorDisplay(_("Could not load {file}:\n{error}").format(file=record.output, error=exc))
                return
            self.logic.nodeIDs[record.name] = node.GetID()
        slicer.util.setSliceViewerLayers(background=node, fit=True)
