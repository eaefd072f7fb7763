"""The hook in the conversion's slice loop: analyses that measure each slice as it goes by.

An analysis (the CT log, the unwrapped surface…) implements :class:`SliceAnalysis`::

    add_slice(k, values, section)   once per output slice k = 0 … n−1, in order
    finish(context)                 once, after the volume is written

``values`` is the slice (rows × columns, the voxel values written, HU for CT) or None for a
missing slice filled with background; ``section`` its :class:`~.core_section.CoreSection` or
None when the slice shows no core.  The section is found once per slice and shared by all
analyses; an analysis that never reads it sets ``wants_section = False`` (the report picture's
planes), and when every analysis does so no section is looked for: ``section`` is then None.
``values`` is a buffer reused after the call returns: copy what you keep (memory stays one
slice plus small per-slice rows).

**Sections carry over.**  Finding a section costs ~0.2–0.4 ms, about half as much as converting a
512² slice, so a section found in one slice serves the following slices over ``CARRY_MM``
(10 mm of core: a 3° tilt moves the axis 0.5 mm, inside the mask's erosion of one sample), and
farther — up to ``CARRY_MAX_MM`` (40 mm) — where the last two sections found show the centre
moving so little that it moves at most ``CARRY_DRIFT_MM`` (0.5 mm) over the carry, once three
sections were found in a row (the axis fit and the unwrap need a few centres): a straight core
is searched every 40 mm after its first 20, one tilted 3° or more every 10 mm.  A section
serves as long as it still covers the core: the share of matter (> −500 HU) under its statistics samples
(:attr:`~.core_section.CoreSection.sample_index`) stays within ``CARRY_MATTER_DROP`` of what it
was and their mean stays in the core's CT range (decided once per core before the slices, from
a few of them: :meth:`SliceAnalyses.decide`, :mod:`.surroundings`).  At the end of a core, a
gap, rubble, a cap, the check fails and the slice's own section is found.  A carried section is passed again as the *same
object*: ``section is previous`` tells an analysis that its centre and radius were measured in
an earlier slice.

**One gather per slice.**  The check reads the section's samples (one ``take``, four numpy
calls in all); an analysis that sets ``wants_samples = True`` (the CT log) receives those same
voxels as a fourth argument, ``add_slice(k, values, section, samples)``, instead of gathering
them again: in the conversion's loop each numpy call costs a few µs (its code and the slice are
out of the CPU caches), so calls, not voxels, are what a slice's analyses cost.

:class:`SliceAnalyses` runs them in the conversion's loop by default: with sections carried
over (below) and statistics from a sample, a slice costs some ten numpy calls, less than handing
it to a thread.  ``threaded=True`` runs them in a worker thread instead (the slice copied into
one of two buffers, ~20 µs for 512² int16), for analyses heavier than the conversion when a CPU
is free — in a batch with one worker per CPU none is.

**Analyses never fail the core**: an exception in ``add_slice`` stops that analysis (the others
go on), one in ``finish`` is caught; each becomes a warning on the core's record and the volume
converts all the same.  Except a full output disk: :meth:`SliceAnalyses.finish` raises it once
the volume is written, so the batch stops and records the core for its rerun to complete (as a
warning the core counted as done, and no rerun wrote its CT log or unwrap).
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..dicom.geometry import CoreGeometry
from ..files import DISK_FULL
from ..messages import one_line
from .core_section import (FULL_SHARE, MATTER_HU, CoreSection, find_core_section, full_radius, in_ranges, sample_step,
                           voxel_threshold)
from .surroundings import Surroundings, decide_surroundings

CARRY_MM = 10.0  # a section found in one slice serves the next slices over this length of core…
CARRY_MAX_MM = 40.0  # …or up to this length where the core's centre hardly moves (see CARRY_DRIFT_MM)…
CARRY_DRIFT_MM = 0.5  # …as far as its centre moves by at most this (what a 3° tilt gives over 10 mm)…
CARRY_FAR_AFTER = 3  # …once this many sections were found in a row (the axis has its points)…
CARRY_MATTER_DROP = 0.1  # …while the share of matter under it drops by less than this

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    Protocol = object  # type: ignore[assignment,misc]


@dataclass(frozen=True)
class CoreInterval:
    """Where the core came from in the well, as the depth table says (plain numbers: the well's
    code sits in a later stage).  ``flip``: the scan runs bottom to top, slice k = last is the top."""

    top_m: float
    bottom_m: float
    flip: bool = False


@dataclass
class AnalysisContext:
    """What an analysis needs to write its results once the volume is written."""

    output_dir: Path
    core_name: str
    geometry: CoreGeometry  # spacing, directions, origin (LPS), slice order (None = gap)
    record: Any  # the core's record (convert.CoreRecord): set its fields, append to its warnings
    depth: Optional[CoreInterval] = None  # None when no depth was given
    durable: bool = True  # fsync files before their rename (files.write_text_atomically)


class SliceAnalysis(Protocol):
    """What the conversion calls; see the module docstring."""

    name: str  # for warnings: "CT log"

    def add_slice(self, k: int, values: Optional[np.ndarray], section: Optional[CoreSection]) -> None:
        ...  # with ``wants_samples = True`` a fourth argument: the section's samples (None without one)

    def finish(self, context: AnalysisContext) -> None:
        ...


class SliceAnalyses:
    """Feeds the slices of one core to ``analyses`` (see the module docstring).

    Use as a context manager around the slice loop: :meth:`add_slice` per output slice,
    :meth:`join` once all are written, then :meth:`finish` with the core's context.  Leaving the
    block stops the thread (also when the conversion failed).
    """

    def __init__(self, analyses: Sequence[SliceAnalysis], pixel_spacing_ij_mm: Tuple[float, float],
                 threaded: bool = False, slice_spacing_mm: float = 1.0, carry_mm: float = CARRY_MM,
                 carry_max_mm: float = CARRY_MAX_MM, core_min_hu: Optional[float] = None,
                 core_max_hu: Optional[float] = None) -> None:
        self.analyses: List[SliceAnalysis] = list(analyses)
        self.core_range = (core_min_hu, core_max_hu)  # the user's bounds (None: decided per core)
        self.surroundings = Surroundings()  # what surrounds the core: decide() sets it before the slices
        self._decided = False
        self.pixel_spacing_ij_mm = pixel_spacing_ij_mm
        self.threaded = threaded and bool(self.analyses)
        self.warnings: List[str] = []
        self._failed: List[bool] = [False] * len(self.analyses)
        self._wants_samples = [bool(getattr(a, "wants_samples", False)) for a in self.analyses]
        # the section is looked for only when an analysis reads it (the module docstring)
        self._wants_section = any(getattr(a, "wants_section", True) for a in self.analyses)
        self._work: "queue.Queue[Optional[tuple]]" = queue.Queue(maxsize=1)
        self._free: "queue.Queue[np.ndarray]" = queue.Queue()
        self._buffers = 0
        self._thread: Optional[threading.Thread] = None
        self._section_errors = 0
        self._disk_full: Optional[OSError] = None  # an analysis found the output disk full (finish raises it)
        self.slice_spacing_mm = float(slice_spacing_mm)
        self.base_carry = max(1, int(round(carry_mm / slice_spacing_mm)))  # slices a section serves…
        self.max_carry = max(self.base_carry, int(round(carry_max_mm / slice_spacing_mm)))  # …up to
        self.carry_slices = self.base_carry  # …and for the section found last (_carry)
        self._last: Optional[CoreSection] = None  # the section found last, at slice _found_at
        self._found_at = -1
        self._matter = 0  # matter voxels among the section's samples in the slice where it was found
        self._matter_hu: float = MATTER_HU  # …above this (an integer for integer voxels)
        self._found_in_a_row = 0  # sections found since the last slice without core
        self._searched = 0  # slices a section was looked for in…
        self._airless = 0  # …of which this many held no air (not HU?), the lowest value among them:
        self._lowest_airless: Optional[float] = None
        self.core_radius_mm: Optional[float] = None  # the core's full radius (decide), None: unknown

    @property
    def wants_section(self) -> bool:
        """Some analysis reads the core's section (so :meth:`decide` is worth its slices)."""
        return bool(self.analyses) and self._wants_section

    def decide(self, sample_slices: Sequence[np.ndarray],
               padding_hu: Optional[Tuple[float, float]] = None) -> Surroundings:
        """What surrounds this core and which CT numbers are core, from a few of its slices read
        before the slice loop (:mod:`.surroundings`): once per core, not per slice.  The analyses
        that take it (``set_surroundings``: the CT log leaves padding and masks out) get it.
        The core's sections in those slices give its full radius (:func:`.core_section.full_radius`,
        :attr:`core_radius_mm`), known before the first slice: a partial section (an end's, a
        cap's) is not carried over, and the analyses that take ``set_core_radius`` (the unwrap's
        radius) get it — the scan's first sections are often an end's partial ones."""
        self.surroundings = decide_surroundings(sample_slices, self.pixel_spacing_ij_mm, *self.core_range,
                                                padding_hu=padding_hu)
        self._decided = True
        for analysis in self.analyses:
            if hasattr(analysis, "set_surroundings"):
                analysis.set_surroundings(self.surroundings)  # type: ignore[attr-defined]
        sections = [self._sample_section(values) for values in sample_slices]
        self.core_radius_mm = full_radius([section.radius_mm for section in sections if section is not None])
        for analysis in self.analyses:
            if hasattr(analysis, "set_core_radius"):
                analysis.set_core_radius(self.core_radius_mm)  # type: ignore[attr-defined]
        return self.surroundings

    def _sample_section(self, values: np.ndarray) -> Optional[CoreSection]:
        """The section of one of :meth:`decide`'s slices (None: none, no air, or an error — a bug
        here costs the unwrap its look-ahead, not the core)."""
        try:
            step = sample_step(*values.shape)
            return None if self._airless_lowest(values[::step, ::step]) is not None else self._find_section(values)
        except Exception:
            return None

    def _find_section(self, values: np.ndarray) -> Optional[CoreSection]:
        """The core's section in ``values``, found afresh with this core's surroundings."""
        around = self.surroundings
        return find_core_section(values, self.pixel_spacing_ij_mm, min_core_hu=around.core_min_hu,
                                 max_core_hu=around.core_max_hu, fill_floor_hu=around.fill_floor_hu,
                                 excluded=around.excluded, ignore=around.beside)

    def _airless_lowest(self, sample: np.ndarray) -> Optional[float]:
        """The lowest value of a slice's ``sample`` holding no air (None: it holds air, or a mask
        explains the lack): every sample would count as matter and the whole image as rock — raw
        scanner counts, not HU (or a field of view inside the core)."""
        lowest = sample.min()
        if lowest > voxel_threshold(MATTER_HU, sample.dtype) and not self._masked_export(sample):
            return float(lowest)
        return None

    def __enter__(self) -> "SliceAnalyses":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if isinstance(exc_type, type) and issubclass(exc_type, BaseException) and not issubclass(exc_type, Exception):
            return  # Ctrl-C or SIGTERM, maybe inside a queue call holding its lock: joining could hang
            # forever; the thread is a daemon and the process is ending
        self.join()

    def add_slice(self, k: int, values: Optional[np.ndarray]) -> None:
        """Slice ``k`` (None for a gap); returns as soon as the slice is copied."""
        if not self.analyses:
            return
        if not self.threaded:
            self._analyse(k, values)
            return
        if self._thread is None:
            thread = threading.Thread(target=self._run, name="corebatchloader-analyses", daemon=True)
            thread.start()
            self._thread = thread  # only once started: a Ctrl-C or SIGTERM in between must stay one
        buffer = None
        if values is not None:
            if self._buffers < 2:  # two buffers: one being analysed, one being filled
                self._free.put(np.empty_like(values))
                self._buffers += 1
            buffer = self._free.get()
            if buffer.shape != values.shape or buffer.dtype != values.dtype:
                buffer = np.empty_like(values)
            np.copyto(buffer, values)
        self._work.put((k, buffer))

    def join(self) -> None:
        """Wait until every slice given is analysed (stops the thread)."""
        if self._thread is not None:
            self._work.put(None)
            self._thread.join()
            self._thread = None

    def finish(self, context: AnalysisContext) -> None:
        """Each analysis that did not fail writes its results; failures become warnings, but a
        full output disk (in any analysis) is raised: the caller stops the batch."""
        self.join()
        if self._airless:
            self._warn("no air in %d of the %d slices searched for the core (lowest value %g, where air reads "
                       "about -1000 HU): the values do not look like Hounsfield units, so no core was looked for "
                       "in them and their CT log rows are empty" % (
                           self._airless, self._searched, self._lowest_airless))
        for n, analysis in enumerate(self.analyses):
            if self._failed[n] or self._disk_full is not None:  # a full disk: nothing more is written
                continue
            try:
                analysis.finish(context)
            except Exception as exc:
                self._fail(n, exc)
        if self._disk_full is not None:  # not this core's fault: the batch stops, the rerun writes what is missing
            raise self._disk_full
        if self._decided:
            context.record.surroundings = self.surroundings.to_record()
        for warning in self.warnings:
            if warning not in context.record.warnings:
                context.record.warnings.append(warning)

    def _run(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            k, buffer = item
            try:
                self._analyse(k, buffer)
            finally:
                if buffer is not None:
                    self._free.put(buffer)

    def _analyse(self, k: int, values: Optional[np.ndarray]) -> None:
        section, samples = None, None
        if values is not None and self._wants_section:
            try:
                section, samples = self._section(k, values)
            except Exception as exc:  # a bug here must cost the analyses one slice, not the core
                self._section_errors += 1
                if self._section_errors == 1:
                    self._warn("core cross-section not searched in slice %d: %s"
                               % (k, one_line(exc)))
        for n, analysis in enumerate(self.analyses):
            if self._failed[n]:
                continue
            try:
                if self._wants_samples[n]:
                    analysis.add_slice(k, values, section, samples)  # type: ignore[call-arg]
                else:
                    analysis.add_slice(k, values, section)
            except Exception as exc:
                self._fail(n, exc)

    def _section(self, k: int, values: np.ndarray) -> Tuple[Optional[CoreSection], Optional[np.ndarray]]:
        """The section of slice ``k`` and its samples there: the previous slice's section while it
        still holds (see the module docstring), else found afresh."""
        flat = values.reshape(-1)
        last = self._last
        around = self.surroundings
        if last is not None and k - self._found_at < self.carry_slices and last.shape == values.shape:
            samples = flat.take(last.sample_index)
            if np.count_nonzero(samples > self._matter_hu) >= self._matter - CARRY_MATTER_DROP * samples.size:
                total = samples.sum()
                if around.core_min_hu * samples.size <= total <= around.core_max_hu * samples.size:
                    return last, samples
        previous, previous_k = self._last, self._found_at
        self._searched += 1
        step = sample_step(*values.shape)
        lowest = self._airless_lowest(values[::step, ::step])
        if lowest is not None:
            self._airless += 1
            self._lowest_airless = lowest if self._lowest_airless is None else min(lowest, self._lowest_airless)
            self._last, self._found_at = None, k
            return None, None
        self._last = section = self._find_section(values)
        self._found_at = k
        if section is None:
            return None, None
        self.carry_slices = self._carry(previous, k - previous_k, section)
        if self.core_radius_mm is not None and section.radius_mm < FULL_SHARE * self.core_radius_mm:
            self.carry_slices = 1  # a partial section (an end, a cap): the next slice may show more core,
            self._found_in_a_row = 0  # and its centre is no point of the axis (no far carry on it)
        samples = flat.take(section.sample_index)
        self._matter_hu = voxel_threshold(MATTER_HU, samples.dtype)
        self._matter = np.count_nonzero(samples > self._matter_hu)
        return section, samples

    def _masked_export(self, sample: np.ndarray) -> bool:
        """The slice's lack of air is explained by padding or a mask *above* every other value
        (a viewer's export at +3071 HU): it replaced the air.  Raw counts, whose constant air
        lies below the core's values, are still told to be no HU."""
        ranges = [r for r in self.surroundings.excluded if r[0] > MATTER_HU]
        masked = in_ranges(sample, ranges)
        if masked is None or not masked.any() or masked.all():
            return False
        return float(sample[~masked].max()) < min(r[0] for r in ranges)

    def _carry(self, previous: Optional[CoreSection], slices_between: int, section: CoreSection) -> int:
        """How many slices ``section`` serves: ``base_carry``, or more while the centre moved so
        little since the section before (found ``slices_between`` slices earlier, the last
        slices in between all carried) that over the carry it moves ≤ ``CARRY_DRIFT_MM``."""
        self._found_in_a_row = self._found_in_a_row + 1 if previous is not None else 1
        if self._found_in_a_row < CARRY_FAR_AFTER or previous is None or previous.shape != section.shape:
            return self.base_carry  # the axis fit and the unwrap want a few centres per core
        spacing_i, spacing_j = self.pixel_spacing_ij_mm
        moved_mm = math.hypot((section.centre_ij[0] - previous.centre_ij[0]) * spacing_i,
                              (section.centre_ij[1] - previous.centre_ij[1]) * spacing_j)
        if moved_mm * self.max_carry <= CARRY_DRIFT_MM * slices_between:
            return self.max_carry
        return max(self.base_carry, min(self.max_carry, int(CARRY_DRIFT_MM * slices_between / moved_mm)))

    def _fail(self, n: int, exc: BaseException) -> None:
        self._failed[n] = True
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            self._disk_full = self._disk_full or exc
        self._warn("%s not written: %s" % (getattr(self.analyses[n], "name", "analysis"), one_line(exc)))

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
