"""CT number → bulk density: ``HU = a·ρ + b`` (REFERENCE §12), with its uncertainty.

Two sources: scanned standards of known density (``--calibration STANDARDS.csv``: a header naming
a density column — ``density``, ``rho``, ``density_g_cc``… — and a CT-number column — ``hu``,
``ct``, ``ct_number``…, any other column such as the name passed over; two standards or more of
different densities), fitted by least squares; or, without standards, the relation the matcher
found between the CT log and a density log (``curve = α·HU + β`` at the matched shifts:
``a = 1/α``, ``b = −β/α``, the covariance carried through).  ``hu_density_fit.json`` holds
either, and says which.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .solver import Relation

DENSITY_HEADERS = ("density", "rho", "density_g_cc", "density_gcc", "density (g/cc)", "density (g/cm3)",
                   "bulk_density", "rhob", "g/cc")
HU_HEADERS = ("hu", "ct", "ct_number", "ct number", "ct_hu", "mean_hu", "ct (hu)", "hu_mean")
NAME_HEADERS = ("name", "standard", "material")


class CalibrationError(Exception):
    """The standards file cannot be used; one line naming it."""


@dataclass
class Calibration:
    """``HU = hu_per_unit · ρ + hu_at_zero`` (ρ in g/cm³), from ``source``."""

    hu_per_unit: float
    hu_at_zero: float
    hu_per_unit_sd: Optional[float]
    hu_at_zero_sd: Optional[float]
    source: str  # "standards" or "fitted"
    covariance: Optional[List[List[float]]] = None
    standards: List[Tuple[str, float, float]] = field(default_factory=list)  # name, density, HU
    note: str = ""

    def density(self, hu: np.ndarray) -> np.ndarray:
        return (np.asarray(hu, float) - self.hu_at_zero) / self.hu_per_unit

    def hu_at(self, density: float) -> float:
        return self.hu_per_unit * density + self.hu_at_zero

    def to_json(self, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        data: Dict[str, Any] = {
            "hu_per_unit": _rounded(self.hu_per_unit), "hu_at_zero": _rounded(self.hu_at_zero),
            "hu_per_unit_sd": _rounded(self.hu_per_unit_sd), "hu_at_zero_sd": _rounded(self.hu_at_zero_sd),
            "unit": "HU per g/cm3", "relation": "HU = hu_per_unit * density + hu_at_zero", "source": self.source,
            "hu_at_2_4_g_cc": _rounded(self.hu_at(2.4))}
        if self.covariance is not None:
            data["covariance"] = [[_rounded(v) for v in row] for row in self.covariance]
        if self.standards:
            data["standards"] = [{"name": n, "density_g_cc": d, "hu": h} for n, d, h in self.standards]
        if self.note:
            data["note"] = self.note
        data.update(extra or {})
        return data


def from_relation(relation: Relation) -> Calibration:
    """The calibration the matcher's relation ``density = α·HU + β`` implies."""
    alpha, beta = relation.alpha, relation.beta
    jacobian = np.array([[-1.0 / alpha ** 2, 0.0], [beta / alpha ** 2, -1.0 / alpha]])
    covariance = jacobian @ np.asarray(relation.covariance, float) @ jacobian.T
    sds = [math.sqrt(max(float(covariance[i, i]), 0.0)) for i in range(2)]
    return Calibration(1.0 / alpha, -beta / alpha, sds[0], sds[1], "fitted", covariance.tolist(),
                       note="fitted from the CT log against the wireline density at the matched shifts "
                            "(%d samples)" % relation.samples)


def read_standards(path: Path) -> Calibration:
    """The least-squares line through the standards of ``path`` (module docstring)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise CalibrationError("%s: cannot read the standards (%s)" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise CalibrationError("%s: not a text CSV of standards (density and HU columns)" % path) from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CalibrationError("%s: no standards in the file" % path)
    delimiter = ";" if ";" in lines[0] else "\t" if "\t" in lines[0] else ","
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    header = [c.strip().lower() for c in rows[0]]
    density_at = next((header.index(h) for h in DENSITY_HEADERS if h in header), None)
    hu_at = next((header.index(h) for h in HU_HEADERS if h in header), None)
    if density_at is None or hu_at is None:
        raise CalibrationError("%s line 1: the header needs a density column (density) and a CT-number column (hu); "
                               "got %s" % (path, ", ".join(rows[0])))
    name_at = next((header.index(h) for h in NAME_HEADERS if h in header), None)
    standards = []
    for number, row in enumerate(rows[1:], 2):
        try:
            density, hu = float(row[density_at]), float(row[hu_at])
        except (IndexError, ValueError):
            raise CalibrationError("%s line %d: density and HU must be numbers: %s" % (
                path, number, delimiter.join(row))) from None
        if not (math.isfinite(density) and math.isfinite(hu)) or density < 0:
            raise CalibrationError("%s line %d: density %r, HU %r: not a standard" % (path, number, density, hu))
        standards.append((row[name_at].strip() if name_at is not None and name_at < len(row) else "line %d" % number,
                          density, hu))
    densities = np.array([s[1] for s in standards])
    if len(standards) < 2 or np.ptp(densities) <= 0:
        raise CalibrationError("%s: a calibration needs two standards or more of different densities (got %d)" % (
            path, len(standards)))
    hus = np.array([s[2] for s in standards])
    design = np.column_stack([densities, np.ones_like(densities)])
    (slope, intercept), *_ = np.linalg.lstsq(design, hus, rcond=None)
    if slope <= 0:
        raise CalibrationError("%s: the standards' CT number falls as density rises (%.4g HU per g/cm3): check "
                               "the columns" % (path, slope))
    residual = hus - (slope * densities + intercept)
    covariance: Optional[np.ndarray] = None
    sds: List[Optional[float]] = [None, None]
    if len(standards) > 2:
        variance = float(residual @ residual) / (len(standards) - 2)
        covariance = np.linalg.inv(design.T @ design) * variance
        sds = [math.sqrt(float(covariance[0, 0])), math.sqrt(float(covariance[1, 1]))]
    note = "" if len(standards) > 2 else "two standards: the line goes through both, no uncertainty from them"
    return Calibration(float(slope), float(intercept), sds[0], sds[1], "standards",
                       covariance.tolist() if covariance is not None else None, standards, note)


def _rounded(value: Optional[float]) -> Optional[float]:
    if value is None or not math.isfinite(value):
        return None
    return float("%.6g" % value)
