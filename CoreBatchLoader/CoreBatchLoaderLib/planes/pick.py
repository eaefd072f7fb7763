"""The plane picker: beds and fractures found as sinusoids on a core's unwrap.

Borehole-image practice (REFERENCE §12): an edge image, a sinusoid search, then acceptance with
false-pick control.  Here, on one core's unwrap (:mod:`.sinusoid` for the conventions):

1. **Where there is rock.**  Rows that are mostly missing (:data:`..analysis.unwrap_finish.MISSING_HU`:
   past the core's ends, stray slices) or mostly air over more than :data:`GAP_MM` (a gap between
   pieces, an end cap's air) are left out, with :data:`EDGE_MM` either side.  A thinner run of air
   rows is an open fracture square to the core and stays.
2. **Band contrast.**  Down each column, the mean over a short window minus the mean over a long
   one (NaN-aware box filters): a bed is a positive band, a fracture a negative one.
3. **Search.**  Every sinusoid z₀ + a·cos θ + b·sin θ on a grid of (a, b) :data:`GRID_MM` apart up
   to the dip :data:`MAX_DIP_DEG`, z₀ every millimetre, scores the mean band contrast along it
   over :data:`SEARCH_COLUMNS` columns — a Hough accumulator over (z₀, a, b) filled by shearing
   the columns.  Its local maxima (bright) and minima (dark) are the candidates.
4. **Fit.**  Each candidate is refined by a per-column fit: in each column the band's extremum
   near the sinusoid (sub-row), then a least-squares sinusoid through them with outliers
   (a crossing plane, a nodule) dropped; three passes with a shrinking window.
5. **Accept or reject** (false-pick control).  Along the fitted sinusoid, the unwrap's values are
   flattened into a profile across the feature, one per column; their **median** over the
   columns is the feature's profile — a nodule, a vug or a grain covering less than half the
   circumference leaves the median at the rock's level.  The feature must be darker (or brighter)
   than the rock on *both* sides (a bed's edge, or the halo the band filter leaves beside a
   strong feature, is not), its contrast at least :data:`Z_MIN` times the same measure's spread
   over random sinusoids of the same core (its own texture noise: the statistical test), and seen
   in at least :data:`MIN_COVERAGE` of the columns (each column's own contrast above twice its
   spread over the random sinusoids).  Duplicates (the same feature found twice) keep the
   stronger.
6. **Describe.**  Bed (brighter) or fracture (darker); contrast = feature minus the rock on its
   two sides (HU, signed); a bed's thickness = its width at half contrast × cos δ; a fracture's
   aperture = its missing CT number over the rock's contrast with air (the missing-mass method)
   × cos δ; coverage; confidence = coverage × (1 − e^(−z / :data:`Z_SCALE`)), z the contrast over
   the noise.

Dips are relative to the fitted axis the unwrap follows (a tilted or off-centre core is
unwrapped about its own axis).  Cost: a few tens of ms per 0.4 m core at 0.5 mm (``bench/planes.md``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..analysis.unwrap_finish import MISSING_HU
from .sinusoid import Sinusoid, UnwrapImage

AIR_HU = -1000.0
AIR_LIMIT_HU = -500.0  # a sample below this is air (a gap, beyond the core's end, a fracture)
GAP_MM = 3.0  # a run of rows mostly air or missing this long is not rock (a fracture is thinner)
EDGE_MM = 2.0  # left out beside such a run
SHORT_MM, LONG_MM = 1.0, 8.0  # half-windows of the band contrast (fine); × 2.5 for the search
GRID_MM = 4.0  # the search's (a, b) step
SEARCH_STEP_MM = 1.5  # … and z0 step
SPREAD_SAMPLE = 7  # the accumulator's spread from every 7th cell
SEARCH_COLUMNS = 24
Z_SEARCH = 6.0  # a candidate stands this many times the accumulator's spread above zero
MAX_DIP_DEG = 75.0
CANDIDATES = 30  # per polarity, strongest first
PROFILE_MM = 25.0  # the profile across a feature reaches this far either side
Z_MIN = 8.0  # the least contrast, in units of the core's own noise (random sinusoids)
Z_SCALE = 25.0
MIN_COVERAGE = 0.5
RANDOM_SINUSOIDS = 40
DUPLICATE_MM = 5.0


@dataclass(frozen=True)
class Plane:
    """One picked plane of a core (mm from the unwrap's top; degrees; HU)."""

    sinusoid: Sinusoid
    dip_deg: float
    azimuth_deg: float
    kind: str  # "bed" (brighter than the rock around it) or "fracture" (darker)
    contrast_hu: float
    thickness_mm: float  # a bed's thickness, a fracture's aperture
    coverage: float
    confidence: float
    z_score: float

    @property
    def depth_mm(self) -> float:
        return self.sinusoid.z0_mm


@dataclass(frozen=True)
class _Noise:
    """The spread of the acceptance measures over random sinusoids of the core."""

    profile_hu: float
    column_hu: float


def pick_planes(image: UnwrapImage) -> List[Plane]:
    """The planes crossing one core, shallowest first (module docstring)."""
    values = rock_only(image.values, image.row_mm)
    if not np.isfinite(values).any():
        return []
    theta = image.theta
    fine = band_contrast(values, image.row_mm, SHORT_MM, LONG_MM)
    coarse = band_contrast(values, image.row_mm, 2.5 * SHORT_MM, 2.5 * LONG_MM)
    max_amplitude = image.radius_mm * math.tan(math.radians(MAX_DIP_DEG))
    noise = _noise(values, theta, image.row_mm, max_amplitude, seed=values.shape[0])
    found: List[Plane] = []
    for polarity, start in search(coarse, theta, image.row_mm, max_amplitude):
        band = coarse if start.amplitude_mm > image.radius_mm else fine  # steep: a tall band in a column
        fitted = fit_sinusoid(band, theta, image.row_mm, start, polarity)
        if fitted is None or fitted.amplitude_mm > max_amplitude * 1.2:
            continue
        plane = measure(values, theta, image.row_mm, image.radius_mm, fitted, polarity, noise)
        if plane is not None:
            found.append(plane)
    return sorted(_distinct(found), key=lambda p: p.depth_mm)


# ---------------------------------------------------------------------------------------------
# 1–2. Rock and band contrast


def rock_only(values: np.ndarray, row_mm: float) -> np.ndarray:
    """The unwrap as float32 with the rows that are not rock (step 1) NaN."""
    values = values.astype(np.float32, copy=True)
    missing = values == MISSING_HU
    void_rows = ((values < AIR_LIMIT_HU) | missing).mean(axis=1) > 0.5
    gap = max(1, int(round(GAP_MM / row_mm)))
    bad = np.zeros(len(values), bool)
    start = None
    for n, void in enumerate(np.append(void_rows, False)):
        if void and start is None:
            start = n
        elif not void and start is not None:
            if n - start >= gap or missing[start:n].mean() > 0.5:
                bad[start:n] = True
            start = None
    edge = int(round(EDGE_MM / row_mm))
    if edge and bad.any():
        bad = np.convolve(bad.astype(float), np.ones(2 * edge + 1), mode="same") > 0
    values[bad] = np.nan
    values[missing] = np.nan
    return values


def box_mean(values: np.ndarray, half: int) -> np.ndarray:
    """Mean over rows n − half … n + half of each column, NaN ignored (NaN where all are)."""
    finite = np.isfinite(values)
    sums = np.zeros((values.shape[0] + 1, values.shape[1]))
    counts = np.zeros_like(sums)
    np.cumsum(np.where(finite, values, 0.0), axis=0, out=sums[1:])
    np.cumsum(finite, axis=0, out=counts[1:])
    rows = np.arange(values.shape[0])
    low, high = np.clip(rows - half, 0, len(rows)), np.clip(rows + half + 1, 0, len(rows))
    count = counts[high] - counts[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[high] - sums[low]) / count
    mean[count == 0] = np.nan
    return mean


def band_contrast(values: np.ndarray, row_mm: float, short_mm: float, long_mm: float) -> np.ndarray:
    """Step 2: the short window's mean minus the long one's, NaN where the row is not rock."""
    band = box_mean(values, max(1, int(round(short_mm / row_mm)))) - box_mean(values, int(round(long_mm / row_mm)))
    band[~np.isfinite(values)] = np.nan
    return band.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# 3. Search


def search(band: np.ndarray, theta: np.ndarray, row_mm: float, max_amplitude: float
           ) -> List[Tuple[float, Sinusoid]]:
    """Step 3: (polarity, sinusoid) of the strongest local maxima of ± the mean band along the
    sinusoids that stand above the accumulator's own spread (:data:`Z_SEARCH`)."""
    rows, width = band.shape
    step = max(1, int(round(SEARCH_STEP_MM / row_mm)))
    columns = ((np.arange(SEARCH_COLUMNS) + 0.5) * width / SEARCH_COLUMNS).astype(int)
    sampled = band[::step, columns]
    seen = np.isfinite(sampled)
    grid = np.arange(-max_amplitude, max_amplitude + GRID_MM / 2, GRID_MM)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    inside = np.hypot(a, b) <= max_amplitude + GRID_MM / 2
    row_step = row_mm * step
    shifts = np.rint((a[inside][:, None] * np.cos(theta[columns]) + b[inside][:, None] * np.sin(theta[columns]))
                     / row_step).astype(np.int64)
    pad = int(np.abs(shifts).max()) + 1
    count_rows = sampled.shape[0]
    padded = np.zeros((len(columns), count_rows + 2 * pad), np.float32)  # a column a row: 1-D gathers
    padded[:, pad:pad + count_rows] = np.where(seen, sampled, 0.0).T
    seen_padded = np.zeros(padded.shape, np.float32)
    seen_padded[:, pad:pad + count_rows] = seen.T
    z0 = np.arange(count_rows) + pad
    total = np.zeros((len(shifts), count_rows), np.float32)
    counted = np.zeros_like(total)
    for j in range(len(columns)):
        at = z0[None, :] + shifts[:, j:j + 1]
        total += padded[j].take(at)
        counted += seen_padded[j].take(at)
    enough = counted >= 0.5 * len(columns)
    score = np.divide(total, counted, out=np.zeros_like(total), where=enough)
    spread = _spread(score[enough][::SPREAD_SAMPLE]) if enough.any() else 1.0
    found: List[Tuple[float, float, Sinusoid]] = []
    for polarity in (1.0, -1.0):
        volume = np.full(a.shape + (count_rows,), -np.inf, np.float32)
        volume[inside] = np.where(enough, polarity * score, -np.inf)
        ia, ib, iz = _local_maxima(volume, max(1, int(round(3.0 / row_step))), Z_SEARCH * spread)
        strength = volume[ia, ib, iz]
        for n in np.argsort(-strength)[:CANDIDATES]:
            found.append((float(strength[n]), polarity,
                          Sinusoid((iz[n] * step + 0.5) * row_mm, float(grid[ia[n]]), float(grid[ib[n]]))))
    return [(polarity, sinusoid) for _, polarity, sinusoid in found]


def _local_maxima(volume: np.ndarray, reach_z: int, floor: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, z indices) of the cells above ``floor`` that are the largest of their neighbours:
    ±1 cell in a and b, ±``reach_z`` in z (only the cells above the floor are looked at)."""
    padded = np.pad(volume, ((1, 1), (1, 1), (reach_z, reach_z)), constant_values=-np.inf)
    ia, ib, iz = np.nonzero(volume > floor)
    values = volume[ia, ib, iz]
    keep = np.ones(len(values), bool)
    for da in (-1, 0, 1):
        for db in (-1, 0, 1):
            for dz in range(-reach_z, reach_z + 1):
                if da or db or dz:
                    keep &= values >= padded[ia + 1 + da, ib + 1 + db, iz + reach_z + dz]
    return ia[keep], ib[keep], iz[keep]


# ---------------------------------------------------------------------------------------------
# 4. Fit


def fit_sinusoid(band: np.ndarray, theta: np.ndarray, row_mm: float, start: Sinusoid,
                 polarity: float) -> Optional[Sinusoid]:
    """Step 4: per column the band's extremum near the sinusoid, a robust least-squares sinusoid
    through them; windows of 6, 3 and 1.5 mm either side."""
    design = np.column_stack([np.ones_like(theta), np.cos(theta), np.sin(theta)])
    current = start
    for window_mm in (6.0, 3.0, 1.5):
        reach = max(2, int(round(window_mm / row_mm)))
        centre = np.rint(current.depth_mm(theta) / row_mm - 0.5).astype(np.int64)
        offsets = np.arange(-reach, reach + 1)
        profile = polarity * _gather(band, centre[:, None] + offsets[None, :])
        filled = np.where(np.isfinite(profile), profile, -np.inf)
        best = np.argmax(filled, axis=1)
        strength = filled[np.arange(len(best)), best]
        usable = np.isfinite(strength) & (strength > 0) & (best > 0) & (best < 2 * reach)
        if usable.sum() < 0.3 * len(theta):
            return None
        rows_ = np.arange(len(best))[usable]
        left, middle, right = (filled[rows_, best[usable] + d] for d in (-1, 0, 1))
        curvature = left - 2.0 * middle + right
        with np.errstate(invalid="ignore", divide="ignore"):
            sub = np.where(np.isfinite(curvature) & (curvature < 0), 0.5 * (left - right) / curvature, 0.0)
        z = (centre[usable] + offsets[best[usable]] + np.clip(sub, -0.5, 0.5) + 0.5) * row_mm
        fitted = _robust_fit(design[usable], z, strength[usable])
        if fitted is None:
            return None
        current = Sinusoid(*fitted)
    return current


def _robust_fit(design: np.ndarray, z: np.ndarray, weight: np.ndarray) -> Optional[Tuple[float, float, float]]:
    """Weighted least squares, twice more without the points off by over 3 × their median residual."""
    keep = np.ones(len(z), bool)
    weight = np.sqrt(np.minimum(weight, np.percentile(weight, 90)))
    solution = None
    for _ in range(3):
        if keep.sum() < 8:
            return None
        weighted = design[keep] * (weight[keep] ** 2)[:, None]
        try:
            solution = np.linalg.solve(weighted.T @ design[keep], weighted.T @ z[keep])
        except np.linalg.LinAlgError:
            return None
        residual = np.abs(design @ solution - z)
        keep = residual <= max(3.0 * float(np.median(residual[keep])), 0.75)
    return tuple(float(v) for v in solution)  # type: ignore[return-value]


def _gather(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows[c, t], c] for each column c (NaN outside the rows)."""
    inside = (rows >= 0) & (rows < values.shape[0])
    taken = values[np.clip(rows, 0, values.shape[0] - 1), np.arange(values.shape[1])[:, None]]
    return np.where(inside, taken, np.nan)


# ---------------------------------------------------------------------------------------------
# 5–6. Accept, describe


def flatten(values: np.ndarray, theta: np.ndarray, row_mm: float, sinusoid: Sinusoid,
            reach: int) -> np.ndarray:
    """(W, 2·reach + 1): each column's values at rows z(θ) + t, t = −reach … reach rows, linear
    between rows (NaN off the rock)."""
    where = sinusoid.depth_mm(theta) / row_mm - 0.5
    low = np.floor(where).astype(np.int64)
    fraction = (where - low)[:, None]
    rows = low[:, None] + np.arange(-reach, reach + 1)[None, :]
    return _gather(values, rows) * (1.0 - fraction) + _gather(values, rows + 1) * fraction


def _windows(reach: int, centre: int, half: float, row_mm: float) -> Tuple[np.ndarray, np.ndarray]:
    """(feature, flanks) index masks of a profile: |t − centre| ≤ half rows; the flanks 1.5 to
    6.5 mm beyond on each side."""
    t = np.arange(-reach, reach + 1) - centre
    near, far = half + 1.5 / row_mm, half + 6.5 / row_mm
    return np.abs(t) <= half, (np.abs(t) >= near) & (np.abs(t) <= far)


def _noise(values: np.ndarray, theta: np.ndarray, row_mm: float, max_amplitude: float, seed: int) -> _Noise:
    """Step 5's test: the contrast measures over random sinusoids of this core (robust spread)."""
    rng = np.random.default_rng(seed)
    reach = int(round(PROFILE_MM / row_mm))
    rows = np.flatnonzero(np.isfinite(values).mean(axis=1) > 0.5)
    if not len(rows):
        return _Noise(1.0, 1.0)
    feature, flanks = _windows(reach, 0, 1.0 / row_mm, row_mm)
    profiles, columns = [], []
    for _ in range(RANDOM_SINUSOIDS):
        amplitude = rng.uniform(0.0, 0.5 * max_amplitude)
        psi = rng.uniform(0.0, 2.0 * math.pi)
        z0 = (rng.choice(rows) + 0.5) * row_mm
        flat = flatten(values, theta, row_mm, Sinusoid(z0, amplitude * math.cos(psi), amplitude * math.sin(psi)),
                       reach)
        with np.errstate(invalid="ignore"), _quiet():
            median = column_median(flat)
            profiles.append(np.nanmean(median[feature]) - np.nanmean(median[flanks]))
            columns.append(np.nanmean(flat[:, feature], axis=1) - np.nanmean(flat[:, flanks], axis=1))
    profiles_ = np.array(profiles)
    column_values = np.concatenate(columns)
    return _Noise(_spread(profiles_[np.isfinite(profiles_)]), _spread(column_values[np.isfinite(column_values)]))


def column_median(flat: np.ndarray) -> np.ndarray:
    """The median over the columns (axis 0) of each profile place, NaN left out (np.nanmedian
    goes through masked arrays: ten times slower here)."""
    ordered = np.sort(flat, axis=0)  # NaN last
    count = np.isfinite(flat).sum(axis=0)
    places = np.arange(flat.shape[1])
    low, high = np.maximum(count - 1, 0) // 2, count // 2
    median = 0.5 * (ordered[low, places] + ordered[np.minimum(high, len(flat) - 1), places])
    median[count == 0] = np.nan
    return median


def _spread(values: np.ndarray) -> float:
    if not len(values):
        return 1.0
    return max(1.4826 * float(np.median(np.abs(values - np.median(values)))), 1.0)


class _quiet:
    """numpy's all-NaN-slice warnings off (a column or row without rock is expected)."""

    def __enter__(self) -> None:
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


def measure(values: np.ndarray, theta: np.ndarray, row_mm: float, radius_mm: float, sinusoid: Sinusoid,
            polarity: float, noise: _Noise) -> Optional[Plane]:
    """Steps 5 and 6: the plane along ``sinusoid`` if it passes the tests, else None."""
    reach = int(round(PROFILE_MM / row_mm))
    flat = flatten(values, theta, row_mm, sinusoid, reach)
    median = column_median(flat)
    if not np.isfinite(median[reach]):
        return None
    near = int(round(2.0 / row_mm))
    signed = polarity * median
    centre = int(np.nanargmax(np.where(np.isfinite(signed[reach - near:reach + near + 1]),
                                       signed[reach - near:reach + near + 1], -np.inf))) - near
    peak = median[reach + centre]
    t = np.arange(-reach, reach + 1) - centre
    with _quiet():
        rock = float(np.nanmedian(median[(np.abs(t) >= 8.0 / row_mm)]))
    height = polarity * (peak - rock)
    if not np.isfinite(height) or height <= 0:
        return None
    above = np.isfinite(signed) & (signed - polarity * rock > height / 2.0)
    left = right = reach + centre
    while left - 1 >= 0 and above[left - 1]:
        left -= 1
    while right + 1 < len(above) and above[right + 1]:
        right += 1
    half = (right - left) / 2.0
    feature, flanks = _windows(reach, centre, max(0.0, half - 1.0), row_mm)
    t_left, t_right = flanks & (t < 0), flanks & (t > 0)
    with _quiet():
        level = float(np.nanmean(median[feature])) if half >= 2.0 else float(peak)
        sides = [float(np.nanmean(median[side])) for side in (t_left, t_right)]
    contrasts = [polarity * (level - side) for side in sides]
    if not all(np.isfinite(contrasts)) or min(contrasts) <= 0 or min(contrasts) < 0.5 * max(contrasts):
        return None
    background = float(np.mean(sides))
    contrast = level - background
    z_score = abs(contrast) / noise.profile_hu
    if z_score < Z_MIN:
        return None
    with _quiet():
        per_column = polarity * (np.nanmean(flat[:, feature], axis=1) - np.nanmean(flat[:, flanks], axis=1))
    coverage = float(np.mean(np.nan_to_num(per_column, nan=0.0) > 2.0 * noise.column_hu))
    if coverage < MIN_COVERAGE:
        return None
    dip = sinusoid.dip_deg(radius_mm)
    square = math.cos(math.radians(dip))  # along the axis → across the plane
    if polarity > 0:
        thickness = (right - left + 1) * row_mm * square
    else:
        span = np.abs(t) <= half + 1.0 / row_mm
        missing = float(np.nansum(background - median[span])) * row_mm
        thickness = max(missing, 0.0) * square / max(background - AIR_HU, 1.0)
    confidence = coverage * (1.0 - math.exp(-z_score / Z_SCALE))
    return Plane(sinusoid, dip, sinusoid.azimuth_deg(), "bed" if polarity > 0 else "fracture", contrast,
                 thickness, coverage, confidence, z_score)


def _distinct(planes: List[Plane]) -> List[Plane]:
    """The strongest of the planes whose sinusoids lie within :data:`DUPLICATE_MM` all round."""
    theta = np.linspace(0.0, 2.0 * math.pi, 72, endpoint=False)
    kept: List[Plane] = []
    for plane in sorted(planes, key=lambda p: -p.z_score):
        curve = plane.sinusoid.depth_mm(theta)
        if all(other.kind != plane.kind or np.abs(other.sinusoid.depth_mm(theta) - curve).max() > DUPLICATE_MM
               for other in kept):
            kept.append(plane)
    return kept
