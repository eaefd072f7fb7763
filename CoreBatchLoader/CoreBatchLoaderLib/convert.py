"""Convert one core: its sorted slices streamed into one NRRD, the volume Slicer would load.

geometry (slice order, grid) → value mapping (output type) → for each output slice: read the
stored values (copy or decode), apply the Modality LUT, append to the NRRD → atomic rename.
Memory holds one slice at a time.  Every failure becomes a one-line :class:`CoreError`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Dict, List, Optional

import numpy as np

from .analysis.ct_log import DEFAULT_VOID_THRESHOLD_HU, CtLog
from .analysis.long_section import LongSectionAnalysis
from .analysis.slices import AnalysisContext, CoreInterval, SliceAnalyses, SliceAnalysis
from .analysis.surroundings import sample_positions
from .analysis.unwrap import UnwrapAnalysis
from .analysis.unwrap_rings import UnwrapRadius
from .defaults import DEFAULT_RADIUS_TEXT
from .dicom.discover import CoreSeries
from .dicom.geometry import CoreGeometry, GeometryError, compute_geometry
from .dicom.headers import SliceHeader, scan_settings
from .dicom.pixel_reader import PixelDataError, SliceReader
from .dicom.voxel_values import (
    NRRD_TYPES,
    OutOfRange,
    ValueMapping,
    ValueRangeError,
    VoxelConverter,
    background_value,
    choose_mapping,
    padding_range,
    value_notes,
)
from .files import DISK_FULL, write_text_atomically
from .messages import one_line
from .nrrd.reader import NrrdFormatError, read_header
from .nrrd.writer import SERIES_KEY, SOURCE_KEY, NrrdStreamWriter, nrrd_header, provenance_key_values
from .record import CoreRecord


class CoreError(Exception):
    """A core cannot be converted; the message is one line for the report."""


class OutputFull(Exception):
    """The output folder takes no more data (disk full, quota exceeded): not this core's fault,
    and every core after it would fail the same way after writing as much as fits, so the batch
    stops; what is done stays done, and a rerun resumes once there is room.

    ``written``: the records of cores whose volume is complete on disk although the disk filled
    while their folder was being finished (a CT log after the volume, the next series): the batch
    records them before it stops, so the manifest and the summary count every core written.
    They carry no fingerprint, so a rerun converts their folder again (and writes what is missing).
    """

    def __init__(self, message: str, written: Sequence[CoreRecord] = ()) -> None:
        super().__init__(message, list(written))  # in args: it crosses process boundaries pickled

    def __str__(self) -> str:
        return str(self.args[0])

    @property
    def written(self) -> List[CoreRecord]:
        return list(self.args[1])


MAX_SLICE_PIXELS = 16384 * 16384  # 512 MiB a slice at 16 bits (micro-CT's largest detectors are ~10k²); a
# header claiming 40000² over a sparse file was read at ~4 times its 3.2 GB while converting


@dataclass(frozen=True)
class ConvertOptions:
    """Choices that change the output files."""

    compress: bool = False  # gzip encoding (smaller, several times slower)
    gap_policy: str = "fill"  # "fill" missing slices with background, or "fail" the core
    durable: bool = True  # fsync each file before its rename
    output_format: str = "nrrd"  # or "nhdr": a detached header over the DICOM files, where exact
    ct_log: bool = True  # logs/<core>.csv and the axis while converting (not for .nhdr: no pixel is read)
    void_threshold_hu: float = DEFAULT_VOID_THRESHOLD_HU  # the CT log's voids: voxels below this
    core_min_hu: Optional[float] = None  # --core-min-hu / --core-max-hu: the CT range of the core's
    core_max_hu: Optional[float] = None  # matter; None: decided per core (analysis.surroundings)
    depth: Optional[CoreInterval] = None  # this core's place in the well, when the batch knows it
    threaded_analyses: bool = False  # the analyses in a thread beside the conversion (analysis.slices)
    unwrap_radius: Optional[str] = DEFAULT_RADIUS_TEXT  # --unwrap-radius (analysis.unwrap); None: no unwrap
    long_section: bool = False  # keep the report picture's planes while converting (analysis.long_section):
    # the batch sets it when its worker draws the picture next (how it is drawn, not what is written)
    max_slice_pixels: int = MAX_SLICE_PIXELS  # --max-slice-pixels: a core whose slices have more pixels fails


def check_slice_size(core: CoreSeries, limit: int = MAX_SLICE_PIXELS) -> None:
    """:class:`CoreError` when ``core``'s slices have more pixels than ``limit``, before any is read."""
    first = core.slices[0]
    pixels = first.rows * first.columns
    if pixels > limit:
        raise CoreError("%s: (0028,0010) Rows × (0028,0011) Columns is %d × %d = %d pixels a slice, above the "
                        "limit of %d: it would take %.1f GB of memory, several times over while converting; give "
                        "--max-slice-pixels %d to convert it anyway" % (
                            first.name, first.rows, first.columns, pixels, limit,
                            pixels * first.bits_allocated / 8 / 1e9, pixels))


OUTPUT_FORMATS = ("nrrd", "nhdr")


def output_file_name(core_name: str, output_format: str = "nrrd") -> str:
    return "%s.%s" % (core_name, output_format)


def core_record(core: CoreSeries, **fields: object) -> CoreRecord:
    """The record of ``core`` before any outcome ("failed" until a route converts it), with how it
    was scanned; shared by the engine, the batch and the module's DICOMLib route."""
    settings = {**scan_settings(core.slices), **fields}  # how it was scanned: the headers already read
    return CoreRecord(name=core.name, source=os.path.abspath(core.folder), series_uid=core.series_uid,
                      slices=len(core.slices), warnings=list(core.warnings), **settings)  # type: ignore[arg-type]




def provenance(core: CoreSeries) -> Dict[str, str]:
    """The key/values every file the engine writes carries: the core's folder and series.

    For people (where did this volume come from?), and for the batch: a rerun recognises its own
    output by them even when the manifest never recorded it — a crash or a full disk between the
    file's rename and the manifest's — instead of taking it for someone else's file.
    """
    return provenance_key_values(os.path.abspath(core.folder), core.series_uid)


def written_from(path: Path, core: CoreSeries) -> bool:
    """``path`` is an NRRD file the engine wrote from ``core``'s series (its header says so).
    The series is what counts, not the folder's path: an input that moved to another mount
    point still owns its outputs.  Without a Series Instance UID, the folder's path must match."""
    try:
        key_values = read_header(path).key_values
    except (NrrdFormatError, OSError, UnicodeDecodeError):
        return False
    expected = provenance(core)
    if SOURCE_KEY not in key_values or key_values.get(SERIES_KEY) != expected[SERIES_KEY]:
        return False
    return bool(core.series_uid) or key_values[SOURCE_KEY] == expected[SOURCE_KEY]


def convert_core(core: CoreSeries, output_dir: Path, options: ConvertOptions = ConvertOptions()) -> CoreRecord:
    """Convert ``core`` into ``output_dir/<name>.nrrd`` and describe the result.

    Never raises for bad data: the record's status is "failed" with a one-line error.  Raises
    :class:`OutputFull` when the output disk is full (the batch stops).
    """
    started = time.perf_counter()
    record = core_record(core)
    key_values = provenance(core)
    try:
        if core.error:
            raise CoreError(core.error)
        check_slice_size(core, options.max_slice_pixels)
        geometry = compute_geometry(core.slices, options.gap_policy)
        record.warnings.extend(geometry.warnings)
        _describe(record, geometry)
        mapping = choose_mapping(core.slices)
        record.warnings.extend(value_notes(core.slices))
        if options.output_format == "nhdr":
            reason = nhdr_blocker(core.slices, geometry, mapping)
            if reason is None:
                target = Path(output_dir) / output_file_name(core.name, "nhdr")
                write_core_nhdr(core.slices, geometry, mapping, target, options, key_values)
                record.status, record.output, record.type = "converted", target.name, mapping.output_dtype
                record.bytes = 0
                record.seconds = round(time.perf_counter() - started, 3)
                return record
            record.warnings.append("written as .nrrd, not .nhdr: %s" % reason)
        target = Path(output_dir) / output_file_name(core.name)
        analyses = slice_analyses(geometry, options, Path(output_dir), mapping, core.slices)
        try:
            written = write_core_nrrd(core.slices, geometry, mapping, target, options, key_values, analyses)
        except OutOfRange as exc:
            wide = mapping.widened()
            record.warnings.append("%s; written as %s" % (exc, wide.output_dtype))
            mapping = wide
            analyses = slice_analyses(geometry, options, Path(output_dir), mapping, core.slices)  # afresh
            written = write_core_nrrd(core.slices, geometry, mapping, target, options, key_values, analyses)
        record.status = "converted"
        record.output = target.name
        record.type = mapping.output_dtype
        record.bytes = written
        analyses.finish(AnalysisContext(Path(output_dir), core.name, geometry, record, options.depth,
                                        options.durable))
    except (CoreError, GeometryError, PixelDataError, ValueRangeError) as exc:
        record.status, record.error = "failed", one_line(exc, 500)
    except OSError as exc:  # file too large, permission: this core only
        if exc.errno in DISK_FULL:
            volume_written = record.status == "converted"  # the disk filled after it: the CT log, the unwrap
            if volume_written:
                record.warnings.append("output disk full after the volume was written: its CT log or "
                                       "unwrap may be missing (the rerun writes them)")
                record.seconds = round(time.perf_counter() - started, 3)
            raise OutputFull("output disk full while writing %s (%s)" % (
                output_file_name(core.name, options.output_format), exc.strerror or exc),
                [record] if volume_written else []) from None
        record.status = "failed"
        record.error = one_line("write failed: %s%s" % (
            exc.strerror or exc, " (%s)" % exc.filename if getattr(exc, "filename", None) else ""), 500)
    record.seconds = round(time.perf_counter() - started, 3)
    return record


def slice_analyses(geometry: CoreGeometry, options: ConvertOptions, output_dir: Optional[Path] = None,
                   mapping: Optional[ValueMapping] = None, slices: Sequence[SliceHeader] = ()) -> SliceAnalyses:
    """The analyses that measure each slice while it is converted (the CT log unless
    ``--no-ct-log``, the unwrap unless ``--no-unwrap``: its rings wait in ``output_dir``; the
    report picture's planes with ``options.long_section``, given the ``mapping`` and ``slices``
    the volume is written with), fresh for one pass over the slices."""
    analyses: List[SliceAnalysis] = []
    spacing = geometry.spacing
    if options.ct_log:
        analyses.append(CtLog(geometry.sizes[2], options.void_threshold_hu))
    if options.unwrap_radius:  # after the CT log: its finish fits the axis the unwrap follows
        analyses.append(UnwrapAnalysis(UnwrapRadius.parse(options.unwrap_radius), (spacing[0], spacing[1]),
                                       output_dir))
    if options.long_section and mapping is not None and slices:
        analyses.append(LongSectionAnalysis(geometry.sizes, gap_value(slices, geometry, mapping), mapping.output_dtype))
    return SliceAnalyses(analyses, (spacing[0], spacing[1]), options.threaded_analyses, spacing[2],
                         core_min_hu=options.core_min_hu, core_max_hu=options.core_max_hu)


def in_slice_order(slices: Sequence[SliceHeader], geometry: CoreGeometry) -> List[SliceHeader]:
    """The slices in the volume's order, gaps left out."""
    return [slices[i] for i in geometry.slice_order if i is not None]


def gap_value(slices: Sequence[SliceHeader], geometry: CoreGeometry, mapping: ValueMapping) -> float:
    """The value of a slice filled into a gap: the background of the volume's first slice."""
    return background_value(in_slice_order(slices, geometry)[0], mapping)


def write_core_nrrd(slices: List[SliceHeader], geometry: CoreGeometry, mapping: ValueMapping, target: Path,
                    options: ConvertOptions, key_values: Optional[Dict[str, str]] = None,
                    analyses: Optional[SliceAnalyses] = None) -> int:
    """Stream the slices into ``target`` in geometry order, each also to ``analyses`` (a gap
    as None); returns the voxel bytes written.  The analyses have seen every slice on return."""
    ordered = in_slice_order(slices, geometry)
    first = ordered[0]
    filler = None
    converter = VoxelConverter(mapping, first.rows, first.columns)
    analyses = analyses or SliceAnalyses((), (1.0, 1.0))
    if analyses.wants_section:  # what surrounds the core, from a few of its slices: once per core
        analyses.decide(sample_slices(ordered, mapping), padding_range(first))
    with SliceReader(ordered) as reader, analyses, NrrdStreamWriter(
            target, nrrd_type=mapping.nrrd_type, sizes=geometry.sizes,
            space_directions=geometry.directions_lps, space_origin=geometry.origin_lps,
            compress=options.compress, durable=options.durable, key_values=key_values) as nrrd:
        for k, index in enumerate(geometry.slice_order):
            if index is None:
                if filler is None:
                    filler = np.full((first.rows, first.columns), gap_value(slices, geometry, mapping),
                                     dtype=mapping.output_dtype)
                nrrd.write_slice(filler)
                analyses.add_slice(k, None)
            else:
                header = slices[index]
                voxels = converter.convert(reader.stored(header, mapping.stored_dtype), header)
                analyses.add_slice(k, voxels)
                nrrd.write_slice(voxels)
        nrrd.commit()
        analyses.join()
        return nrrd.bytes_written


def sample_slices(ordered: Sequence[SliceHeader], mapping: ValueMapping) -> List[np.ndarray]:
    """The voxel values of the few slices that decide what surrounds a core
    (:func:`.analysis.surroundings.sample_positions`), read apart from the slice loop (its reader's
    read-ahead follows the loop)."""
    picks = [ordered[n] for n in sample_positions(len(ordered))]
    if not picks:
        return []
    converter = VoxelConverter(mapping, picks[0].rows, picks[0].columns)
    with SliceReader() as reader:
        return [np.array(converter.convert(reader.stored(header, mapping.stored_dtype), header)) for header in picks]


def nhdr_blocker(slices: List[SliceHeader], geometry: CoreGeometry, mapping: ValueMapping) -> Optional[str]:
    """Why a detached header over the DICOM files would not load to the exact voxels (or None).

    Such a header can only point at bytes: no rescale, no decoding, no byte swapping, no
    masking of unused high bits, no gap to fill, and one byte skip rule for every file.
    """
    if any(index is None for index in geometry.slice_order):
        return "a missing slice cannot be listed"
    unlistable = next((s.path for s in slices if not listable(os.path.abspath(s.path))), None)
    if unlistable is not None:
        return "the file name %r cannot be listed in a header (a line break or undecodable bytes)" % (
            os.path.basename(unlistable))
    if any(not s.is_native or s.is_big_endian for s in slices):
        return "pixel data is compressed or big endian"
    if any(s.inverted for s in slices):
        return "MONOCHROME1 values must be inverted (NRRD has no field for it)"
    if any(s.slope != 1.0 or s.intercept != 0.0 for s in slices):
        return "voxels need RescaleSlope/RescaleIntercept applied (NRRD has no field for them)"
    first = slices[0]
    if first.bits_stored != first.bits_allocated:
        return "BitsStored %d < BitsAllocated %d (unused high bits would be read)" % (
            first.bits_stored, first.bits_allocated)
    if first.number_of_frames > 1:
        return None if len({s.path for s in slices}) == 1 else "frames spread over several files"
    if all(s.pixel_data_ends_file for s in slices):
        return None
    if len({s.pixel_offset for s in slices}) == 1:
        return None
    return "pixel data neither ends every file nor starts at the same offset in each"


def listable(path: str) -> bool:
    """``path`` can be a line of a detached header's ``data file: LIST``: one line of text.  A
    name with a line break splits into two entries (Slicer then reads no file at all), and bytes
    that are no UTF-8 cannot be written into the header as they are."""
    if "\n" in path or "\r" in path:
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def write_core_nhdr(slices: List[SliceHeader], geometry: CoreGeometry, mapping: ValueMapping, target: Path,
                    options: ConvertOptions, key_values: Optional[Dict[str, str]] = None) -> None:
    """Write a detached NRRD header whose data are the DICOM files themselves (zero copy)."""
    ordered = in_slice_order(slices, geometry)
    stored_type = mapping.stored_dtype.lstrip("<>=")
    nrrd_type = NRRD_TYPES[np.dtype(stored_type).name]
    if ordered[0].number_of_frames > 1:
        files, skip = [ordered[0].path], ordered[0].pixel_offset
    else:
        files = [s.path for s in ordered]
        skip = -1 if all(s.pixel_data_ends_file for s in ordered) else ordered[0].pixel_offset
    text = nrrd_header(nrrd_type=nrrd_type, sizes=geometry.sizes, space_directions=geometry.directions_lps,
                       space_origin=geometry.origin_lps, encoding="raw", byte_skip=skip,
                       data_files=[os.path.abspath(f) for f in files], key_values=key_values)
    write_text_atomically(target, text, durable=options.durable)


def _describe(record: CoreRecord, geometry: CoreGeometry) -> None:
    record.dimensions = list(geometry.sizes)
    record.spacing = [float(v) for v in geometry.spacing]
    record.origin_lps = [float(v) for v in geometry.origin_lps]
    record.directions_lps = [[float(v) for v in d] for d in geometry.directions_lps]
