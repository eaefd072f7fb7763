"""The wireline log: one curve of a LAS file at log depth, in metres, NULL as NaN.

Read with lasio (LAS 1.2/2.0, wrapped or not; the ``~Well`` NULL value honoured by lasio's
null policy).  The index is the first curve, as LAS says; its unit decides metres or feet
(``M``, ``FT``/``F``/``FEET``, ``.1IN``), converted to metres; a depth given in a unit this
reader does not know, a curve not in the file (the message lists those it has), a curve with no
value, an index that is not monotonic: one line each (:class:`WirelineError`).  Several depth
curves (``DEPT``, ``DEPT:1``… as lasio names repeated mnemonics) are allowed: the first is the
index.  A density in kg/m³ is given in g/cm³.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

LAS_NEEDED = "reading the wireline needs lasio (pip install lasio)"
DEPTH_UNITS: Dict[str, float] = {  # metres per unit, by the unit as written (upper case, no dots)
    "M": 1.0, "METER": 1.0, "METERS": 1.0, "METRE": 1.0, "METRES": 1.0, "CM": 0.01, "MM": 0.001,
    "FT": 0.3048, "F": 0.3048, "FEET": 0.3048, "FOOT": 0.3048, "USFT": 1200.0 / 3937.0, "1IN": 0.00254,
    "IN": 0.0254,
}
DEPTH_NAMES = ("DEPT", "DEPTH", "MD", "TDEP", "DEP", "TVD", "TVDSS")
DENSITY_UNITS: Dict[str, float] = {"G/C3": 1.0, "G/CC": 1.0, "G/CM3": 1.0, "GM/CC": 1.0, "GR/CC": 1.0,
                                   "K/M3": 0.001, "KG/M3": 0.001}


class WirelineError(Exception):
    """The wireline cannot be used; one line naming the file and what is wrong."""


@dataclass
class Wireline:
    """One curve at log depth (m, increasing); NaN where the file has NULL."""

    path: Path
    curve: str
    unit: str  # the curve's unit as used here (g/cm³ for a density: "G/C3")
    depth_m: np.ndarray
    values: np.ndarray
    depth_unit: str  # as the file gave it
    well: str = ""

    @property
    def is_density(self) -> bool:
        return self.unit.upper() in DENSITY_UNITS

    @property
    def step_m(self) -> float:
        steps = np.diff(self.depth_m)
        return float(np.median(steps)) if len(steps) else float("nan")

    def valid_interval(self) -> tuple:
        """(shallowest, deepest) depth with a value."""
        good = self.depth_m[np.isfinite(self.values)]
        return float(good.min()), float(good.max())


def read_wireline(path: Path, curve: str) -> Wireline:
    """The curve ``curve`` of the LAS file ``path`` (module docstring)."""
    try:
        import lasio
    except ImportError:
        raise WirelineError(LAS_NEEDED) from None
    path = Path(path)
    if not path.is_file():
        raise WirelineError("%s: no such file" % path)
    try:
        las = lasio.read(str(path), ignore_header_errors=False)
    except Exception as exc:  # lasio raises many kinds; one line whatever it is
        raise WirelineError("%s: not a readable LAS file (%s)" % (path, " ".join(str(exc).split())[:200])) from None
    names: List[str] = [c.mnemonic for c in las.curves]
    if not names:
        raise WirelineError("%s: the file has no curves (~Curve section empty)" % path)
    index = las.curves[0]
    unit = _unit_key(index.unit)
    if not _is_depth(index.mnemonic, unit):
        raise WirelineError("%s: no depth curve: the first curve (the index) is %s%s, not a depth such as DEPT.M "
                            "or DEPT.FT" % (path, index.mnemonic, ".%s" % index.unit if index.unit else ""))
    if unit not in DEPTH_UNITS:
        raise WirelineError("%s: the depth curve %s is in %r, a unit this reader does not know (M or FT)" % (
            path, index.mnemonic, index.unit or ""))
    wanted = _find_curve(names, curve)
    if wanted is None:
        raise WirelineError("%s: no curve %s; the file has %s" % (path, curve, ", ".join(names[1:]) or "only its index"))
    depth = np.asarray(index.data, dtype=float) * DEPTH_UNITS[unit]
    values = np.asarray(las.curves[wanted].data, dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    null = _null_value(las)
    if null is not None:
        values[np.isclose(values, null)] = np.nan
    good_depth = np.isfinite(depth)
    depth, values = depth[good_depth], values[good_depth]
    if len(depth) < 2:
        raise WirelineError("%s: the depth curve %s has fewer than two depths" % (path, index.mnemonic))
    steps = np.diff(depth)
    if (steps > 0).all():
        pass
    elif (steps < 0).all():  # logged upwards: allowed, read top down
        depth, values = depth[::-1], values[::-1]
    else:
        where = int(np.nonzero(steps <= 0)[0][0] if steps[0] > 0 else np.nonzero(steps >= 0)[0][0])
        raise WirelineError("%s: the depth curve %s is not monotonic (%g %s then %g %s, rows %d–%d of ~ASCII)" % (
            path, index.mnemonic, depth[where] / DEPTH_UNITS[unit], index.unit, depth[where + 1] / DEPTH_UNITS[unit],
            index.unit, where + 1, where + 2))
    if not np.isfinite(values).any():
        raise WirelineError("%s: curve %s has no value (all NULL%s)" % (
            path, names[wanted], " = %g" % null if null is not None else ""))
    curve_unit = (las.curves[wanted].unit or "").strip()
    scale = DENSITY_UNITS.get(curve_unit.upper())
    if scale is not None and scale != 1.0:
        values, curve_unit = values * scale, "G/C3"
    well = str(las.well["WELL"].value) if "WELL" in las.well else ""
    return Wireline(path, names[wanted], curve_unit, depth, values, index.unit or "", well)


def _unit_key(unit: Optional[str]) -> str:
    return (unit or "").strip().upper().lstrip(".")


def _is_depth(mnemonic: str, unit: str) -> bool:
    base = mnemonic.split(":")[0].upper()
    return base in DEPTH_NAMES or unit in DEPTH_UNITS


def _find_curve(names: List[str], curve: str) -> Optional[int]:
    """The curve's column (not the index): the exact mnemonic, else the same in another case."""
    for n, name in enumerate(names):
        if n and name == curve:
            return n
    folded = [n for n, name in enumerate(names) if n and name.upper() == curve.upper()]
    return folded[0] if len(folded) == 1 else None


def _null_value(las: object) -> Optional[float]:
    try:
        value = float(las.well["NULL"].value)  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None
