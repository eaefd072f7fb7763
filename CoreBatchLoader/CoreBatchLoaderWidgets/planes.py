"""The panel's Planes section: whether the batch picks each core's beds and fractures, and the
well's planes table (``well_planes.csv``) when it did.

A section of its own (docs/slicer.md, "Adding a panel section"): it gets the ``.ui``'s widgets
and the module's logic, reads the parameter node (``planes``, bound to ``planesCheckBox``), and
imports the engine only when it acts.  The planes themselves are picked by the batch in its
child process (``corebatchloader convert --planes``); with a depth file they are markups in
the well scene, which the panel loads.
"""
from pathlib import Path
from typing import List

import qt
from slicer.i18n import tr as _


class PlanesSection:
    """``ui.planesTable``: one row per plane of the well (core, depth, dip, azimuth, kind,
    contrast, thickness, confidence), shallowest first."""

    def __init__(self, ui, logic) -> None:
        self.ui, self.logic = ui, logic
        table = ui.planesTable
        columns = [_("Core"), _("Depth"), _("Dip (°)"), _("Azimuth (°)"), _("Kind"), _("Contrast (HU)"),
                   _("Thickness (mm)"), _("Confidence")]
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.horizontalHeader().setStretchLastSection(True)

    def clear(self) -> None:
        self.ui.planesTable.setRowCount(0)

    def show(self, outputDir: Path) -> None:
        """Fill the table from ``outputDir``'s ``well_planes.csv`` (written by the batch's planes
        step), or say why there is none."""
        from CoreBatchLoaderLib.planes.tables import WELL_TABLE, read_table

        self.clear()
        path = Path(outputDir) / WELL_TABLE
        if not path.is_file():
            self.ui.planesStatusLabel.text = _("No planes picked: tick the box above and run the batch.")
            return
        try:
            rows = read_table(path)
        except (OSError, ValueError, KeyError) as exc:
            self.ui.planesStatusLabel.text = _("Could not read {file}: {error}").format(file=str(path), error=str(exc))
            return
        table = self.ui.planesTable
        for row in rows:
            cells = self._cells(row)
            at = table.rowCount
            table.insertRow(at)
            for column, text in enumerate(cells):
                item = qt.QTableWidgetItem(text)
                item.setFlags(qt.Qt.ItemIsSelectable | qt.Qt.ItemIsEnabled)
                table.setItem(at, column, item)
        unit = _("m") if rows and rows[0].in_metres else _("mm from each core's top")
        self.ui.planesStatusLabel.text = _("{count} planes in {file} (depth in {unit})").format(
            count=len(rows), file=str(path), unit=unit)

    @staticmethod
    def _cells(row) -> List[str]:
        depth = "%.3f" % row.depth if row.in_metres else "%.1f" % row.depth
        return [row.core, depth, "%.1f" % row.dip_deg, "%.1f" % row.azimuth_deg, row.kind,
                "%+.0f" % row.contrast_hu, "%.1f" % row.thickness_mm, "%.2f" % row.confidence]
