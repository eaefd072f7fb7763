"""A cored and logged well with known answers, for depth matching (issue 21).

A layered formation (bed thicknesses and densities drawn at random, beds thinner than the
tool's resolution among them) at *log* depth; cores of ~1 m cut one per metre of hole (the
recovered length a little short of the cut), each shifted from its driller's depth by a known
shift that drifts down the well with some jitter (never two cores overlapping at log depth); a
lost core run (a gap in the depth table); one core with missing slices; one core cut from a
thick homogeneous bed (featureless). Each core's CT log samples the formation at its slices'
log depths through a CT-number calibration ``HU = a·ρ + b`` the matcher is not told, with noise.
The wireline density is the same formation seen by a tool of ``response_m`` resolution (a Hann
window of that full width at half maximum: not the matcher's Gaussian), sampled every
``log_step_m`` (6 in) with noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class CoreTruth:
    """One core: its driller's interval, its true shift to log depth, its CT log (slice-centre
    depths at driller's depth, CT numbers with NaN for missing slices)."""

    name: str
    top_m: float
    bottom_m: float
    shift_m: float
    depth_m: np.ndarray
    hu: np.ndarray


@dataclass
class LoggedWell:
    cores: List[CoreTruth]
    wireline_depth_m: np.ndarray
    rhob: np.ndarray
    hu_per_unit: float  # a of HU = a·ρ + b
    hu_at_zero: float  # b
    featureless: Optional[str] = None
    gapped: Optional[str] = None  # the core with missing slices
    lost: List[str] = field(default_factory=list)  # the lost core run's names (not in cores)
    boundaries_m: np.ndarray = field(default_factory=lambda: np.zeros(0))  # bed tops at log depth
    densities: np.ndarray = field(default_factory=lambda: np.zeros(0))


def logged_well(cores: int = 30, seed: int = 0, start_m: float = 2450.0, max_shift_m: float = 0.8,
                slice_mm: float = 2.0, hu_per_unit: float = 1150.0, hu_at_zero: float = -1180.0,
                hu_noise: float = 15.0, rhob_noise: float = 0.012, response_m: float = 0.6,
                log_step_m: float = 0.1524, lost_run: Tuple[int, int] = (14, 3),
                featureless: Optional[int] = 8, gapped: Optional[int] = 20) -> LoggedWell:
    """The well of the module docstring; ``lost_run`` = (first index, count) of cut cores lost,
    ``featureless`` and ``gapped`` the indices (of the cut cores) of those two cores."""
    rng = np.random.default_rng(seed)
    cut = np.arange(cores + lost_run[1])
    lengths = rng.uniform(0.86, 0.98, len(cut))
    tops = start_m + cut * 1.0
    drift = -0.6 * max_shift_m / 0.8 + (1.3 * max_shift_m / 0.8) * cut / max(len(cut) - 1, 1)
    shifts = np.clip(drift + rng.normal(0.0, 0.03, len(cut)), -max_shift_m, max_shift_m)
    for n in range(1, len(cut)):  # never overlapping at log depth
        gap = tops[n] - (tops[n - 1] + lengths[n - 1])
        shifts[n] = max(shifts[n], shifts[n - 1] - gap + 0.005)
    shifts = np.clip(shifts, -max_shift_m, max_shift_m)
    top_log, bottom_log = tops[0] + shifts[0] - 4.0, tops[-1] + lengths[-1] + shifts[-1] + 4.0
    boundaries, densities = _beds(rng, top_log, bottom_log)
    if featureless is not None:  # a thick homogeneous bed around that core at log depth
        n = featureless
        a, b = tops[n] + shifts[n] - 0.45, tops[n] + lengths[n] + shifts[n] + 0.45
        above, below = boundaries < a, boundaries > b
        boundaries, densities = (np.concatenate([boundaries[above], [a, b], boundaries[below]]),
                                 np.concatenate([densities[above], [2.35, _density_at(boundaries, densities, b)],
                                                 densities[below]]))
    lost = set(range(lost_run[0], lost_run[0] + lost_run[1])) if lost_run[1] else set()
    truths, lost_names = [], []
    for n in cut:
        name = "core_%03d" % (n + 1)
        if n in lost:
            lost_names.append(name)
            continue
        slices = int(round(lengths[n] * 1000.0 / slice_mm))
        depth = tops[n] + (np.arange(slices) + 0.5) * slice_mm / 1000.0
        rho = _density_at(boundaries, densities, depth + shifts[n])
        hu = hu_per_unit * rho + hu_at_zero + rng.normal(0.0, hu_noise, slices)
        if gapped is not None and n == gapped:
            hu[slices // 3:slices // 3 + slices // 8] = np.nan
        truths.append(CoreTruth(name, float(tops[n]), float(tops[n] + slices * slice_mm / 1000.0),
                                float(shifts[n]), depth, hu))
    fine = np.arange(top_log, bottom_log, 0.005)
    smooth = np.convolve(_density_at(boundaries, densities, fine), _hann(response_m, 0.005), mode="same")
    wireline = np.arange(top_log + 1.0, bottom_log - 1.0, log_step_m)
    rhob = np.interp(wireline, fine, smooth) + rng.normal(0.0, rhob_noise, len(wireline))
    return LoggedWell(truths, wireline, rhob, hu_per_unit, hu_at_zero,
                      "core_%03d" % (featureless + 1) if featureless is not None else None,
                      "core_%03d" % (gapped + 1) if gapped is not None else None, lost_names,
                      boundaries, densities)


def _beds(rng: np.random.Generator, top: float, bottom: float) -> Tuple[np.ndarray, np.ndarray]:
    """Bed tops and densities: thicknesses 0.08–1.2 m (many below the tool's resolution),
    densities of sands, shales and carbonates (2.05–2.70 g/cc)."""
    edges = [top]
    while edges[-1] < bottom:
        edges.append(edges[-1] + float(np.clip(rng.exponential(0.35), 0.08, 0.9)))
    return np.array(edges), rng.uniform(2.05, 2.70, len(edges))


def _density_at(boundaries: np.ndarray, densities: np.ndarray, depth: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(boundaries, depth, side="right") - 1, 0, len(densities) - 1)
    return densities[index]


def _hann(fwhm_m: float, step_m: float) -> np.ndarray:
    """A Hann window whose full width at half maximum is ``fwhm_m`` (total width 2 × FWHM)."""
    half = int(round(fwhm_m / step_m))
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(2 * half + 1) / (2 * half))
    return window / window.sum()


def standards_table(hu_per_unit: float, hu_at_zero: float, noise_hu: float = 4.0,
                    seed: int = 1) -> List[Tuple[str, float, float]]:
    """Scanned standards (name, density g/cc, measured HU) under the same calibration."""
    rng = np.random.default_rng(seed)
    known: Sequence[Tuple[str, float]] = (("air", 0.0012), ("water", 1.0), ("quartz", 2.65), ("aluminium", 2.70))
    return [(name, rho, float(hu_per_unit * rho + hu_at_zero + rng.normal(0.0, noise_hu))) for name, rho in known]
