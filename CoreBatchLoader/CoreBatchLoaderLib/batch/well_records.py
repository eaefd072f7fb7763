"""What the batch adds to the core records that no single core knows: each core's place in the
well (:func:`add_depths`), and what comparing the cores shows (:func:`scan_warnings`, and
:func:`warn_about_split_series`: one series in several folders).

Cores of one well are compared by CT number — the CT log, the well strip, the grey window — and
a CT number depends on the tube voltage (HU is attenuation relative to water's, and a dense
mineral's attenuation falls with the beam's energy otherwise than water's) and on the
reconstruction kernel (sharper kernels change noise and edges): cores scanned with other
settings are not comparable without a calibration — what labs check first when two cores look
different.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence

from ..messages import first_few
from ..record import CoreRecord

COMPARED = (  # record field, what it is, how a value is shown
    ("kvp", "tube voltage", "%g kVp"),
    ("kernel", "reconstruction kernel", "kernel %s"),
)


def add_depths(records: Sequence[CoreRecord], depths: Mapping[str, Any]) -> None:
    """Each record's ``top_m``, ``bottom_m`` and ``flip`` from ``depths`` (core name → a
    :class:`..well.depths.CoreDepth`), None for a core without one — also for a record carried
    over from a run that had depths."""
    for record in records:
        depth = depths.get(record.name)
        record.top_m = None if depth is None else float(depth.top_m)
        record.bottom_m = None if depth is None else float(depth.bottom_m)
        record.flip = None if depth is None else bool(depth.flip)


def scan_warnings(records: Sequence[CoreRecord]) -> List[str]:
    """One line per setting of :data:`COMPARED` in which the converted cores differ, each value
    with the cores scanned so ("cores scanned at 2 tube voltages: 120 kVp core_001, core_002;
    140 kVp core_003 — their CT numbers are not comparable"); cores whose files do not say are
    left out of the comparison."""
    present = [r for r in records if r.status in ("converted", "skipped")]
    lines = []
    for field, what, shown in COMPARED:
        groups: Dict[Any, List[str]] = {}
        for record in present:
            value = getattr(record, field)
            if value is not None:
                groups.setdefault(value, []).append(record.name)
        if len(groups) > 1:
            lines.append("cores scanned with %d different %ss: %s — their CT numbers are not comparable "
                         "without a calibration" % (len(groups), what, "; ".join(
                             "%s: %s" % (shown % value, first_few(names, 6)) for value, names in groups.items())))
    return lines


def warn_about_split_series(records: Sequence[CoreRecord]) -> None:
    """Warn on each core whose series also has slices in another folder (once per record).

    A core is a folder's series, but an export that caps the files per folder spreads one
    series over several folders: each part is then a core of its own, at its own position."""
    folders: Dict[str, List[CoreRecord]] = {}
    for record in records:
        if record.series_uid and record.status in ("converted", "skipped"):
            folders.setdefault(record.series_uid, []).append(record)
    for same_series in folders.values():
        for record in same_series:
            others = sorted({os.path.basename(r.source) for r in same_series if r.source != record.source})
            warning = ("its series (SeriesInstanceUID %s) also has slices in %s: each folder is converted as a "
                       "core of its own" % (record.series_uid, first_few(others)))
            if others and warning not in record.warnings:
                record.warnings.append(warning)
