"""A converted well's output folder and its wireline, built from a synthetic logged well
(:mod:`CoreBatchLoaderLib.synthetic.logged_well`) without DICOM: each core's ``logs/<core>.csv``
as the conversion writes it, the manifest, and the well's step (the real
:func:`~CoreBatchLoaderLib.well.ct_log.write_well_log`: ``DEPT`` columns and ``well_ct_log.las``)
— what ``depth-match`` reads.  For the matcher's tests and its bench: fast, every number known."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from CoreBatchLoaderLib.analysis.ct_log import DISTANCE_COLUMN, STATISTICS, log_csv_text, log_file_name
from CoreBatchLoaderLib.batch.manifest import write_manifest
from CoreBatchLoaderLib.batch.well_records import add_depths
from CoreBatchLoaderLib.files import write_text_atomically
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.synthetic.logged_well import LoggedWell
from CoreBatchLoaderLib.well.ct_log import write_well_log
from CoreBatchLoaderLib.well.depths import CoreDepth

FEET = 0.3048


def write_output(folder: Path, well: LoggedWell, no_ct_log: Sequence[str] = ()) -> Dict[str, CoreDepth]:
    """``folder`` as a convert with depths leaves it; ``no_ct_log``: cores converted without a log."""
    folder.mkdir(parents=True, exist_ok=True)
    records, depths = [], {}
    for core in well.cores:
        slices = len(core.depth_m)
        spacing = float(np.median(np.diff(core.depth_m))) * 1000.0
        rows = np.full((slices, len(STATISTICS)), np.nan)
        rows[:, 0] = rows[:, 1] = core.hu
        rows[:, 2] = np.where(np.isfinite(core.hu), 20.0, np.nan)
        rows[:, 3], rows[:, 4] = core.hu - 25.0, core.hu + 25.0
        rows[:, 5] = np.where(np.isfinite(core.hu), 0.0, np.nan)
        rows[:, 6] = np.where(np.isfinite(core.hu), 100.0, np.nan)
        record = CoreRecord(core.name, str(folder.parent / "in" / core.name), status="converted",
                            output="%s.nrrd" % core.name, dimensions=[200, 200, slices], spacing=[0.5, 0.5, spacing])
        if core.name not in no_ct_log:
            path = folder / log_file_name(core.name)
            path.parent.mkdir(exist_ok=True)
            write_text_atomically(path, log_csv_text(DISTANCE_COLUMN, (np.arange(slices) + 0.5) * spacing, rows),
                                  durable=False)
            record.ct_log = log_file_name(core.name)
        records.append(record)
        depths[core.name] = CoreDepth(core.name, core.top_m, core.bottom_m, False, folder=core.name)
    add_depths(records, depths)  # as the batch does
    write_manifest(folder, records, durable=False)
    write_well_log(folder, records, depths, "Synthetic 1", durable=False)
    return depths


def write_wireline(path: Path, well: LoggedWell, unit: str = "M", null_from: Optional[float] = None) -> Path:
    """The wireline as LAS 2.0 (lasio): DEPT in ``unit`` (M or FT), RHOB (G/C3), GR (GAPI, falling
    as density rises), NULL −999.25 (from ``null_from`` m down, when given)."""
    import lasio

    depth = well.wireline_depth_m / (FEET if unit == "FT" else 1.0)
    rhob = well.rhob.copy()
    if null_from is not None:
        rhob[well.wireline_depth_m >= null_from] = np.nan
    las = lasio.LASFile()
    las.well["WELL"].value = "Synthetic 1"
    las.well["NULL"].value = -999.25
    las.append_curve("DEPT", depth, unit=unit)
    las.append_curve("RHOB", rhob, unit="G/C3", descr="bulk density")
    las.append_curve("GR", 400.0 - 120.0 * well.rhob, unit="GAPI", descr="gamma ray")
    las.write(str(path), version=2.0, wrap=False)
    return path
