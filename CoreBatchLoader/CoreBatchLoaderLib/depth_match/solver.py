"""The joint solver: one bulk shift per core, driller's → log depth, all cores at once.

Why jointly: a density tool responds over ~0.6 m, so a 1 m core holds about two independent
samples of its log; matched alone such a core is often confidently wrong (REFERENCE §12).  What
pins it is everything else: one CT-number ↔ curve relation for the whole well (a core's level,
not only its shape, must fit), the cores' order, no overlaps, and shifts that drift rather than
jump.  So:

1. each core's CT log is smoothed to the tool's response (:func:`smooth_core`: a Gaussian of
   ``response_m`` full width at half maximum, normalised over the core's own slices — gaps and
   missing slices weigh nothing) and sampled every ``SAMPLE_M``; a sample's expected residual is
   the wireline's noise plus, where the kernel reaches past the CT the core gives, the formation
   the tool saw and the CT did not (:class:`_Noise`); once placed, each core is smoothed again
   with its neighbours where they lie;
2. the relation ``curve = α·CT + β`` starts from the two curves' spreads (the sign tried both
   ways: RHOB rises with the CT number, a neutron log falls) and is refined on the matched
   samples (:func:`_fit_relation`: the spreads' ratio, the wireline's own noise taken out), the
   shifts solved again, until they settle;
3. per core and shift on a grid of ``STEP_M`` within ±``max_shift``, the misfit of the
   calibrated pseudo-log to the wireline; a chain over the cores in driller's order with the
   constraint "top of the next at or below the bottom of this at log depth" and a Gaussian prior
   on the change of shift (drift, looser across a lost core run) — dynamic programming gives the
   best chain (Viterbi), forward–backward each core's posterior over its shift;
4. sub-step refinement: a parabola through each core's objective at its grid minimum;
5. per core: ``confidence`` = the posterior's mass within half a log sample (0.0762 m at 6 in)
   of the shift given; ``ambiguous`` where the core's own smoothed log varies less than
   ``AMBIGUOUS_CONTRAST`` × the wireline's noise (:func:`wireline_noise`: featureless rock):
   its own misfit is left out and the chain keeps it at its neighbours' shift; ``correlation`` = Pearson's r of the calibrated
   pseudo-log and the wireline over the core at its shift.

Pure numpy on plain arrays, no files: :mod:`.run` does the reading and writing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..defaults import DEFAULT_MAX_SHIFT_M

DEFAULT_RESPONSE_M = 0.6  # density tools' vertical resolution (REFERENCE §12)
STEP_M = 0.01  # the shift grid
SAMPLE_M = 0.05  # where each core's smoothed log is compared
DRIFT_M = 0.15  # prior spread of the change of shift from one core to the next (shifts drift; wider across gaps)
AMBIGUOUS_CONTRAST = 2.0  # a core whose own smoothed log varies less than this × the wireline's noise
MIN_COVERAGE = 0.25  # samples whose kernel the core covers less than this are left out
SIGNS = (1.0, -1.0)
ROUNDS = 6


class MatchError(Exception):
    """The inputs cannot be matched (no overlap, no usable samples); one line."""


@dataclass
class CoreLogInput:
    """One core as the solver sees it: its driller's interval and its CT log (slice-centre
    depths at driller's depth, CT numbers; NaN where a slice showed no core)."""

    name: str
    top_m: float
    bottom_m: float
    depth_m: np.ndarray
    hu: np.ndarray


@dataclass
class SmoothedCore:
    """A core's CT log smoothed to the tool's response, at ``offset_m`` below its driller's top."""

    offset_m: np.ndarray
    hu: np.ndarray
    weight: np.ndarray  # the share of the kernel the core covers (0 … 1)


@dataclass
class CoreShift:
    name: str
    shift_m: float
    correlation: float  # NaN where it cannot be computed
    confidence: float
    status: str  # "matched" or "ambiguous"
    posterior_sd_m: float = float("nan")


@dataclass
class Relation:
    """``curve = alpha · CT + beta``, with its covariance (from the matched samples)."""

    alpha: float
    beta: float
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((2, 2)))
    residual_sd: float = float("nan")
    samples: int = 0


@dataclass
class MatchResult:
    shifts: List[CoreShift]
    relation: Relation
    grid_m: np.ndarray  # the shift grid
    misfit: np.ndarray  # (cores, grid): each core's own misfit, −log-likelihood units
    smoothed: List[SmoothedCore]


def gaussian_sigma(response_m: float) -> float:
    """The Gaussian whose full width at half maximum is the tool's vertical resolution."""
    return float(response_m) / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def smooth_core(core: CoreLogInput, response_m: float = DEFAULT_RESPONSE_M,
                sample_m: float = SAMPLE_M, context: Sequence[Tuple[CoreLogInput, float]] = ()) -> SmoothedCore:
    """The core's CT log as the tool would see it, every ``sample_m`` from its top (module
    docstring, step 1).  The slices are binned to 1 cm first (a CT log has ~1,000 slices a metre;
    the kernel is 0.6 m wide).  ``context``: neighbouring cores and where they lie relative to
    this one (metres to add to their driller's depths to put them on this core's): the tool saw
    them too, near this core's ends."""
    depth, hu = np.asarray(core.depth_m, float), np.asarray(core.hu, float)
    if context:
        depth = np.concatenate([depth] + [np.asarray(c.depth_m, float) + offset for c, offset in context])
        hu = np.concatenate([hu] + [np.asarray(c.hu, float) for c, _ in context])
    good = np.isfinite(depth) & np.isfinite(hu)
    length = max(core.bottom_m - core.top_m, sample_m)
    count = max(1, int(round(length / sample_m)))
    offsets = (np.arange(count) + 0.5) * (length / count)
    if not good.any():
        return SmoothedCore(offsets, np.full(count, np.nan), np.zeros(count))
    spacing = float(np.median(np.diff(np.sort(depth[good])))) if good.sum() > 1 else 0.001
    bin_m = 0.01
    bins = np.floor((depth[good] - core.top_m) / bin_m).astype(int)
    first = bins.min()
    sums = np.bincount(bins - first, weights=hu[good])
    counts = np.bincount(bins - first).astype(float)
    centres = (np.arange(len(sums)) + first + 0.5) * bin_m
    filled = counts > 0
    centres, means, lengths = centres[filled], sums[filled] / counts[filled], counts[filled] * spacing
    sigma = gaussian_sigma(response_m)
    kernel = np.exp(-0.5 * ((offsets[:, None] - centres[None, :]) / sigma) ** 2) * lengths[None, :]
    total = kernel.sum(axis=1)
    smoothed = np.where(total > 0, kernel @ means / np.where(total > 0, total, 1.0), np.nan)
    weight = np.clip(total / (sigma * math.sqrt(2.0 * math.pi)), 0.0, 1.0)
    return SmoothedCore(offsets, smoothed, weight)


def match_cores(cores: Sequence[CoreLogInput], wireline_depth_m: np.ndarray, wireline: np.ndarray,
                max_shift_m: float = DEFAULT_MAX_SHIFT_M, response_m: float = DEFAULT_RESPONSE_M,
                log_step_m: Optional[float] = None) -> MatchResult:
    """Every core's shift (module docstring).  ``cores`` in any order (solved in driller's order,
    returned in the order given); the wireline at log depth, NaN for NULL."""
    if not cores:
        raise MatchError("no core has a CT log to match")
    order = sorted(range(len(cores)), key=lambda n: cores[n].top_m)
    ordered = [cores[n] for n in order]
    z, w = _clean_wireline(wireline_depth_m, wireline)
    step = float(log_step_m) if log_step_m else float(np.median(np.diff(z)))
    grid = np.round(np.arange(-max_shift_m, max_shift_m + STEP_M / 2, STEP_M) / STEP_M) * STEP_M
    smoothed = [smooth_core(core, response_m) for core in ordered]
    tops = np.array([c.top_m for c in ordered])
    bottoms = np.array([c.bottom_m for c in ordered])
    # the wireline under every core's samples at every shift: (samples, grid) per core
    under = [np.interp(c.top_m + s.offset_m[:, None] + grid[None, :], z, w, left=np.nan, right=np.nan)
             for c, s in zip(ordered, smoothed)]
    usable = [s.weight >= MIN_COVERAGE for s in smoothed]
    if not any(np.isfinite(u[ok]).any() for u, ok in zip(under, usable)):
        raise MatchError("the wireline does not reach the cored interval %.2f–%.2f m within ±%g m" % (
            tops.min(), bottoms.max(), max_shift_m))
    # samples of a smoothed log closer than the response are not independent: scale the likelihood
    dependence = max(1.0, (response_m / SAMPLE_M))
    gaps = tops[1:] - bottoms[:-1]
    best: Optional[tuple] = None
    floor = wireline_noise(w)
    raw = np.concatenate([np.asarray(c.hu, float) for c in ordered])
    unseen_hu = float(np.nanvar(raw)) if np.isfinite(raw).any() else 0.0
    base = smoothed
    for sign in SIGNS:
        smoothed = base
        usable = [s.weight >= MIN_COVERAGE for s in smoothed]
        relation = _initial_relation(sign, smoothed, usable, under, grid)
        if relation is None:
            continue
        ambiguous = np.zeros(len(ordered), dtype=bool)
        noise = _Noise(0.3 * float(np.nanstd(w)) or 1.0, relation.alpha ** 2 * unseen_hu)
        chosen = np.full(len(ordered), -1)
        for _ in range(ROUNDS):
            own = _misfits(relation, smoothed, usable, under, noise, dependence)
            own[ambiguous] = 0.0
            new = _viterbi(own, grid, gaps)
            refit = _fit_relation(smoothed, usable, under, new, ambiguous, dependence, noise, floor)
            if refit is None or refit.alpha * sign <= 0:  # no fit, or the sign turned over: not this sign
                break
            noise = _noise_from(refit, smoothed, usable, under, new, unseen_hu)
            ambiguous = _featureless(refit, base, [b.weight >= MIN_COVERAGE for b in base], floor)
            stable = np.array_equal(new, chosen)
            chosen, relation = new, refit
            if stable:
                break
            # the tool saw the neighbours too: smooth each core with them where they now lie
            smoothed = [smooth_core(core, response_m, context=_neighbours(ordered, grid[chosen], n))
                        for n, core in enumerate(ordered)]
            usable = [s.weight >= MIN_COVERAGE for s in smoothed]
        misfit = _misfits(relation, smoothed, usable, under, noise, dependence)
        own = np.where(ambiguous[:, None], 0.0, misfit)
        chosen = _viterbi(own, grid, gaps)
        total = float(sum(own[n, k] for n, k in enumerate(chosen)) + _prior_cost(grid[chosen], gaps))
        total += 0.5 * len(ordered) * math.log(max(noise.sd, 1e-300) ** 2)  # comparable across signs
        if best is None or total < best[0]:
            shifts = _finish(ordered, relation, smoothed, usable, under, own, grid, gaps, chosen, ambiguous)
            best = (total, shifts, relation, misfit, smoothed)
    if best is None:
        raise MatchError("no core's CT log varies: nothing to match against the wireline")
    _, shifts, relation, misfit, smoothed = best
    by_name = {s.name: s for s in shifts}
    back = np.argsort(order)
    return MatchResult([by_name[c.name] for c in cores], relation, grid, misfit[back],
                       [smoothed[i] for i in back])


def _neighbours(cores: Sequence[CoreLogInput], shifts: np.ndarray, n: int) -> List[Tuple[CoreLogInput, float]]:
    """The cores next to core ``n`` and the offsets that put them where they lie at log depth
    relative to it (for :func:`smooth_core`'s ``context``)."""
    return [(cores[m], float(shifts[m] - shifts[n])) for m in (n - 1, n + 1) if 0 <= m < len(cores)]


def _clean_wireline(depth: np.ndarray, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    depth, values = np.asarray(depth, float), np.asarray(values, float)
    keep = np.isfinite(depth)
    depth, values = depth[keep], values[keep]
    if len(depth) < 2 or not np.isfinite(values).any():
        raise MatchError("the wireline curve has no values")
    return depth, values


def _pairs(smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray], under: Sequence[np.ndarray],
           chosen: np.ndarray, skip: Optional[np.ndarray] = None,
           model: Optional["_Noise"] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(CT, wireline, weight) of every usable sample at the chosen shifts; the weight is one over
    the sample's expected residual variance (``model``), or its coverage squared without one."""
    xs, ys, ws = [], [], []
    for n, (s, ok, u) in enumerate(zip(smoothed, usable, under)):
        if skip is not None and skip[n]:
            continue
        y = u[:, chosen[n]]
        good = ok & np.isfinite(y) & np.isfinite(s.hu)
        xs.append(s.hu[good])
        ys.append(y[good])
        ws.append(model.weights(s.weight[good]) if model is not None else s.weight[good] ** 2)
    if not xs:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def _initial_relation(sign: float, smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray],
                      under: Sequence[np.ndarray], grid: np.ndarray) -> Optional[Relation]:
    """``curve = α·CT + β`` from the two curves' spreads: the cores' smoothed CT against the
    wireline over the interval they may move in (no shift known yet)."""
    ct = np.concatenate([s.hu[ok & np.isfinite(s.hu)] for s, ok in zip(smoothed, usable)] or [np.zeros(0)])
    log = np.concatenate([u[ok].ravel() for u, ok in zip(under, usable)] or [np.zeros(0)])
    log = log[np.isfinite(log)]
    if len(ct) < 3 or len(log) < 3:
        return None
    spread_ct = float(np.subtract(*np.percentile(ct, [84, 16])))
    spread_log = float(np.subtract(*np.percentile(log, [84, 16])))
    if spread_ct <= 0 or spread_log <= 0:
        return None
    alpha = sign * spread_log / spread_ct
    return Relation(alpha, float(np.median(log)) - alpha * float(np.median(ct)))


@dataclass
class _Noise:
    """What a residual is expected to be: the wireline's noise (``sd``, curve units) and, where the
    kernel reaches beyond the CT the core gives (its ends, gaps, missing slices), the formation the
    tool saw and the CT did not: ``(1 − coverage)² · unseen`` (``unseen``: the variance of the raw
    CT log, calibrated).  So a core's ends weigh what they tell."""

    sd: float
    unseen: float

    def variances(self, coverage: np.ndarray) -> np.ndarray:
        return self.sd ** 2 + (1.0 - coverage) ** 2 * self.unseen

    def weights(self, coverage: np.ndarray) -> np.ndarray:
        return 1.0 / self.variances(coverage)


def _misfits(relation: Relation, smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray],
             under: Sequence[np.ndarray], noise: _Noise, dependence: float) -> np.ndarray:
    """−log-likelihood of every core at every shift.  A sample where the wireline is NULL costs
    what a typical residual would (½), so a core cannot escape into a hole."""
    cost = np.zeros((len(smoothed), under[0].shape[1]))
    for n, (s, ok, u) in enumerate(zip(smoothed, usable, under)):
        keep = ok & np.isfinite(s.hu)
        if not keep.any():
            continue
        predicted = relation.alpha * s.hu[keep] + relation.beta
        residual = u[keep] - predicted[:, None]
        weight = noise.weights(s.weight[keep])[:, None]
        cost[n] = np.where(np.isfinite(residual), weight * residual ** 2, 1.0).sum(axis=0)
    return cost / (2.0 * dependence)


def _noise_from(relation: Relation, smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray],
                under: Sequence[np.ndarray], chosen: np.ndarray, unseen_hu: float) -> _Noise:
    """The noise model at the chosen shifts: the residuals' spread where the core covers the
    kernel (≥ 90 %), and the unseen formation's variance."""
    x, y, c = _pairs(smoothed, usable, under, chosen)
    unseen = relation.alpha ** 2 * unseen_hu
    inside = c >= 0.81  # _pairs' default weight is the coverage squared
    if inside.sum() < 3:
        inside = c > 0
    if not inside.any():
        return _Noise(math.sqrt(unseen) or 1.0, unseen)
    residual = (y - (relation.alpha * x + relation.beta))[inside]
    return _Noise(max(float(np.sqrt(np.mean(residual ** 2))), 1e-6 * math.sqrt(unseen) or 1e-12), unseen)


def wireline_noise(values: np.ndarray) -> float:
    """The wireline's own noise (its units), from its second differences: the tool's smoothing
    leaves the signal's curvature from one sample to the next far below the noise's, so their
    spread (robustly: 1.4826 × the median absolute deviation) / √6 is the noise's — known before
    any shift, so a badly matched start cannot make every core look featureless."""
    second = np.diff(np.asarray(values, float), 2)
    second = second[np.isfinite(second)]
    if len(second) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(second - np.median(second))) / math.sqrt(6.0))


def _featureless(relation: Relation, smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray],
                 noise: float) -> np.ndarray:
    """Cores whose own smoothed, calibrated log varies less than ``AMBIGUOUS_CONTRAST`` × the
    wireline's noise (or that have fewer than three usable samples): the data cannot pin them."""
    flags = np.zeros(len(smoothed), dtype=bool)
    for n, (s, ok) in enumerate(zip(smoothed, usable)):
        values = s.hu[ok & np.isfinite(s.hu)]
        if len(values) < 3:
            flags[n] = True
            continue
        contrast = abs(relation.alpha) * float(values.max() - values.min())
        flags[n] = contrast < AMBIGUOUS_CONTRAST * noise
    return flags


def _prior_sd(gaps: np.ndarray) -> np.ndarray:
    """The prior spread of the change of shift between neighbours: wider across a lost core run
    (the drift has had more hole to grow over)."""
    return DRIFT_M * np.sqrt(1.0 + np.maximum(gaps, 0.0))


def _prior_cost(shifts: np.ndarray, gaps: np.ndarray) -> float:
    if len(shifts) < 2:
        return 0.0
    return float((0.5 * (np.diff(shifts) / _prior_sd(gaps)) ** 2).sum())


def _transitions(grid: np.ndarray, gap: float, sd: float) -> np.ndarray:
    """Cost of going from shift grid[i] (this core) to grid[j] (the next): the drift prior, and
    +inf where the next core would start above this one's bottom at log depth."""
    change = grid[None, :] - grid[:, None]
    cost = 0.5 * (change / sd) ** 2
    cost[change < -gap - 1e-9] = np.inf
    return cost


def _viterbi(own: np.ndarray, grid: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """The grid index of every core's shift in the best chain (min-sum dynamic programming)."""
    cores, size = own.shape
    sds = _prior_sd(gaps)
    back = np.zeros((cores, size), dtype=int)
    total = own[0].copy()
    for n in range(1, cores):
        step = total[:, None] + _transitions(grid, float(gaps[n - 1]), float(sds[n - 1]))
        back[n] = np.argmin(step, axis=0)
        total = step[back[n], np.arange(size)] + own[n]
    chosen = np.zeros(cores, dtype=int)
    chosen[-1] = int(np.argmin(total))
    for n in range(cores - 1, 0, -1):
        chosen[n - 1] = back[n, chosen[n]]
    return chosen


def _posteriors(own: np.ndarray, grid: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Each core's posterior over the shift grid (forward–backward in log space)."""
    cores, size = own.shape
    sds = _prior_sd(gaps)
    moves = [_transitions(grid, float(gaps[n]), float(sds[n])) for n in range(cores - 1)]
    forward = np.zeros((cores, size))
    forward[0] = -own[0]
    for n in range(1, cores):
        forward[n] = _logsumexp(forward[n - 1][:, None] - moves[n - 1], axis=0) - own[n]
    backward = np.zeros((cores, size))
    for n in range(cores - 2, -1, -1):
        backward[n] = _logsumexp(-moves[n] + (backward[n + 1] - own[n + 1])[None, :], axis=1)
    log_post = forward + backward
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(axis=1, keepdims=True)


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(values, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(np.log(np.exp(values - top).sum(axis=axis, keepdims=True)) + top, axis=axis)


def _fit_relation(smoothed: Sequence[SmoothedCore], usable: Sequence[np.ndarray], under: Sequence[np.ndarray],
                  chosen: np.ndarray, ambiguous: np.ndarray, dependence: float, noise: _Noise,
                  floor: float = 0.0) -> Optional[Relation]:
    """The line through the matched samples (weighted): its slope the ratio of the two curves'
    spreads (reduced major axis; the wireline's own noise ``floor`` taken out of its spread), signed
    by their covariance.  Not least squares of one on the other: at wrong shifts that slope
    shrinks with the correlation, every core then looks featureless, and the match collapses onto
    a flat line.  The covariance is least squares', scaled for samples that are not independent
    (``dependence``)."""
    x, y, w = _pairs(smoothed, usable, under, chosen, skip=ambiguous, model=noise)
    if len(x) < 3 or np.ptp(x) <= 0:
        return None
    design = np.column_stack([x, np.ones_like(x)])
    normal = design.T @ (design * w[:, None])
    try:
        inverse = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return None
    mean_x, mean_y = np.average(x, weights=w), np.average(y, weights=w)
    var_x = np.average((x - mean_x) ** 2, weights=w)
    var_y = np.average((y - mean_y) ** 2, weights=w)
    covariance_xy = np.average((x - mean_x) * (y - mean_y), weights=w)
    if var_x <= 0 or covariance_xy == 0:
        return None
    alpha = math.copysign(math.sqrt(max(var_y - floor ** 2, 0.25 * var_y) / var_x), covariance_xy)
    beta = mean_y - alpha * mean_x
    residual = y - (alpha * x + beta)
    chi2 = float(np.sum(w * residual ** 2) / max(len(x) - 2.0, 1.0))  # the noise model's misfit per sample
    covariance = inverse * max(chi2, 1.0) * dependence  # samples closer than the response are not independent
    return Relation(float(alpha), float(beta), covariance, float(np.sqrt(np.mean(residual ** 2))), len(x))


def _finish(cores: Sequence[CoreLogInput], relation: Relation, smoothed: Sequence[SmoothedCore],
            usable: Sequence[np.ndarray], under: Sequence[np.ndarray], own: np.ndarray, grid: np.ndarray,
            gaps: np.ndarray, chosen: np.ndarray, ambiguous: np.ndarray) -> List[CoreShift]:
    """Shifts refined below the grid step, kept apart; confidences and correlations."""
    posterior = _posteriors(own, grid, gaps)
    sds = _prior_sd(gaps)
    shifts = grid[chosen].astype(float)
    for n in range(len(cores)):
        k = int(chosen[n])
        if ambiguous[n] or k == 0 or k == len(grid) - 1:
            continue
        local = own[n, k - 1:k + 2].copy()
        for m, sd in ((n - 1, sds[n - 1] if n else None), (n + 1, sds[n] if n + 1 < len(cores) else None)):
            if sd is not None:
                local += 0.5 * ((grid[k - 1:k + 2] - shifts[m]) / sd) ** 2
        curvature = local[0] - 2 * local[1] + local[2]
        if np.isfinite(local).all() and curvature > 0:
            shifts[n] = grid[k] + float(np.clip(0.5 * (local[0] - local[2]) / curvature, -0.5, 0.5)) * STEP_M
    _keep_apart(cores, shifts, grid[chosen])
    half_sample = 0.5 * 0.1524
    results = []
    for n, core in enumerate(cores):
        near = np.abs(grid - shifts[n]) <= half_sample + 1e-9
        confidence = float(posterior[n, near].sum())
        mean = float((posterior[n] * grid).sum())
        sd = float(math.sqrt(max((posterior[n] * (grid - mean) ** 2).sum(), 0.0)))
        results.append(CoreShift(core.name, round(float(shifts[n]), 4),
                                 _correlation(relation, smoothed[n], usable[n], core, under[n], grid, shifts[n]),
                                 round(0.0 if ambiguous[n] else confidence, 3),
                                 "ambiguous" if ambiguous[n] else "matched", sd))
    return results


def _keep_apart(cores: Sequence[CoreLogInput], shifts: np.ndarray, fallback: np.ndarray) -> None:
    """Undo a refinement that made two cores overlap (the grid's shifts never do)."""
    for n in range(1, len(cores)):
        if cores[n].top_m + shifts[n] < cores[n - 1].bottom_m + shifts[n - 1] - 1e-9:
            shifts[n], shifts[n - 1] = fallback[n], fallback[n - 1]


def _correlation(relation: Relation, smoothed: SmoothedCore, usable: np.ndarray, core: CoreLogInput,
                 under: np.ndarray, grid: np.ndarray, shift: float) -> float:
    """Pearson's r of the calibrated pseudo-log and the wireline over the core at ``shift``."""
    k = int(np.argmin(np.abs(grid - shift)))
    y = under[:, k]
    good = usable & np.isfinite(y) & np.isfinite(smoothed.hu)
    if good.sum() < 3:
        return float("nan")
    x = relation.alpha * smoothed.hu[good]
    if np.std(x) == 0 or np.std(y[good]) == 0:
        return float("nan")
    return round(float(np.corrcoef(x, y[good])[0, 1]), 3)
