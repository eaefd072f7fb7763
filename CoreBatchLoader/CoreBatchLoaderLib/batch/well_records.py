"""What the batch adds to the core records that no single core knows: each core's place in the
well (:func:`add_depths`), and what comparing the cores shows (:func:`scan_warnings`).

Cores of one well are compared by CT number — the CT log, the well strip, the grey window — and
a CT number depends on the tube voltage (HU is attenuation relative to water's, and a dense
mineral's attenuation falls with the beam's energy otherwise than water's) and on the
reconstruction kernel (sharper kernels change noise and edges): cores scanned with other
settings are not comparable without a calibration — what labs check first when two cores look
different.
"""
from __future__ import annotations

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

