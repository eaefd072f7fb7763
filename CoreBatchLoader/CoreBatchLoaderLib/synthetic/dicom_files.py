"""Synthetic CT series of rock well cores, written as DICOM files.

CoreBatchLoader converts CT scans of well cores (DICOM series) into NRRD
volumes.  Real core scans are large and not redistributable, so the unit
tests, the demo, the benchmarks and the Slicer module self-test all generate
their input with this module instead.

Every generated series comes with its ground truth (:class:`SyntheticSeries`):
the stored pixel values and the rescaled values in the order a correct loader
must produce them (ascending along the slice normal), the LPS origin and the
NRRD-style "space directions".  A loader's output can therefore be checked
value by value.

The pixel content makes ordering mistakes visible: pixel ``[0, 0]`` of the
slice with grid index ``k`` holds ``k`` (modulo the representable range), and
every slice has its own pattern.  With ``rock=True`` each slice shows a core
cross-section: a disc of "rock" (about 1500-2800 after rescaling, layered
along the core axis, with deterministic noise) surrounded by "air" (about
-1000).

Options produce the awkward cases seen in real data: oblique orientation,
unsigned 12-bit data with an intercept, per-slice rescaling, implicit VR, big
endian, RLE and deflate transfer syntaxes, a single Enhanced CT multi-frame
file, file names and instance numbers that do not follow the slice order,
reversed slice order, missing slices and duplicated slices.

Everything is deterministic: the same arguments (including ``seed``) give
byte-identical files, UIDs included.

Only numpy, pydicom (3.x) and the standard library are used.  The module is
kept Python 3.9 syntax compatible because Slicer may embed an older Python.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

__all__ = [
    "CT_IMAGE_STORAGE",
    "ENHANCED_CT_IMAGE_STORAGE",
    "SUPPORTED_TRANSFER_SYNTAXES",
    "SyntheticSeries",
    "write_core_series",
    "write_well",
]

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
ENHANCED_CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2.1")

SUPPORTED_TRANSFER_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    RLELossless,
    DeflatedExplicitVRLittleEndian,
)

AIR_HU = -1000.0
ROCK_MIN_HU = 1500.0
ROCK_MAX_HU = 2800.0
WINDOW_CENTER = 1000.0
WINDOW_WIDTH = 4000.0
PER_SLICE_SLOPE_STEP = 0.5  # slope of slice k: slope * (1 + k * step)
PER_SLICE_INTERCEPT_STEP = -4.0  # intercept of slice k: intercept + k * step

Vector3 = Tuple[float, float, float]
PathLike = Union[str, Path]


@dataclass
class SyntheticSeries:
    """A written synthetic series and the ground truth a loader must reproduce.

    Attributes:
        folder: Folder the files were written to.
        files: Written files sorted along the slice normal, ascending (a
            duplicated slice's copy follows its original); for a multi-frame
            series the single file.
        stored: Stored pixel values, shape (slices, rows, columns), one slice
            per distinct position, ascending along the normal
            (row_direction x column_direction); dtype as stored.
        values: ``stored * slope + intercept`` with the slice's own rescale,
            float64, same shape as ``stored``.
        origin_lps: ImagePositionPatient of the first slice of ``stored``.
        directions_lps: 3x3 matrix whose columns are the i (row direction *
            column spacing), j (column direction * row spacing) and k (normal *
            slice spacing) steps in LPS millimetres, i.e. the NRRD
            "space directions" vectors as columns.
        series_uid: SeriesInstanceUID of the series.
    """

    folder: Path
    files: List[Path]
    stored: np.ndarray
    values: np.ndarray
    origin_lps: Tuple[float, float, float]
    directions_lps: np.ndarray
    series_uid: str


@dataclass(frozen=True)
class _Geometry:
    """Slice geometry with every number as it is written to the files."""

    row_direction: np.ndarray  # unit vector along a row (IOP first triplet)
    column_direction: np.ndarray  # unit vector along a column (IOP second triplet)
    normal: np.ndarray
    pixel_spacing: Tuple[float, float]  # (row spacing, column spacing)
    slice_spacing: float
    origin: np.ndarray

    def position(self, k: int) -> Tuple[float, float, float]:
        """ImagePositionPatient of grid slice ``k``, rounded as written."""
        ipp = self.origin + k * self.slice_spacing * self.normal
        return tuple(_ds_float(v) for v in ipp)  # type: ignore[return-value]

    def directions(self) -> np.ndarray:
        """NRRD space directions as columns (i, j, k steps)."""
        row_spacing, column_spacing = self.pixel_spacing
        return np.column_stack(
            [
                self.row_direction * column_spacing,
                self.column_direction * row_spacing,
                self.normal * self.slice_spacing,
            ]
        )


@dataclass(frozen=True)
class _PixelFormat:
    """How pixel values are stored."""

    bits_allocated: int
    bits_stored: int
    signed: bool

    @property
    def dtype(self) -> np.dtype:
        """Numpy dtype of the stored values."""
        kind = "i" if self.signed else "u"
        return np.dtype(f"{kind}{self.bits_allocated // 8}")

    @property
    def low(self) -> int:
        """Smallest value representable with ``bits_stored``."""
        return -(2 ** (self.bits_stored - 1)) if self.signed else 0

    @property
    def high(self) -> int:
        """Largest value representable with ``bits_stored``."""
        if self.signed:
            return 2 ** (self.bits_stored - 1) - 1
        return 2**self.bits_stored - 1


@dataclass(frozen=True)
class _Slice:
    """One slice to write: grid index, copy number and its data."""

    k: int
    copy: int
    pixels: np.ndarray
    slope: float
    intercept: float


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _ds(value: float) -> str:
    """Format ``value`` as a DICOM DS string (at most 16 characters).

    Values are first rounded to 12 significant digits so float noise from the
    geometry arithmetic (``-10.799999999999999``) is written as ``-10.8``.
    """
    value = float(f"{float(value):.12g}")
    if value == 0.0:
        return "0"  # avoids "-0.0"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format_number_as_ds(value)


def _ds_float(value: float) -> float:
    """``value`` as it reads back from its DS string."""
    return float(_ds(value))


def _ds_list(values: Iterable[float]) -> List[str]:
    """DS strings for several numbers."""
    return [_ds(v) for v in values]


def _uid(*parts: object) -> str:
    """Deterministic UID derived from ``parts``."""
    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _unit_vector(values: Sequence[float], name: str) -> np.ndarray:
    """Validate a direction cosine triplet and return it as written."""
    vec = np.array([_ds_float(v) for v in values], dtype=np.float64)
    if vec.shape != (3,):
        raise ValueError(f"{name} must have three components, got {values!r}")
    if abs(np.linalg.norm(vec) - 1.0) > 1e-4:
        raise ValueError(f"{name} must be a unit vector, got {values!r}")
    return vec


def _make_geometry(
    pixel_spacing: Sequence[float],
    slice_spacing: float,
    origin: Sequence[float],
    row_direction: Sequence[float],
    column_direction: Sequence[float],
) -> _Geometry:
    """Validate the geometry options and round them as they are written."""
    row = _unit_vector(row_direction, "row_direction")
    col = _unit_vector(column_direction, "column_direction")
    if abs(float(np.dot(row, col))) > 1e-4:
        raise ValueError("row_direction and column_direction must be orthogonal")
    if len(pixel_spacing) != 2 or min(pixel_spacing) <= 0:
        raise ValueError(f"pixel_spacing must be two positive numbers: {pixel_spacing!r}")
    if slice_spacing <= 0:
        raise ValueError(f"slice_spacing must be positive: {slice_spacing!r}")
    if len(origin) != 3:
        raise ValueError(f"origin must have three components: {origin!r}")
    return _Geometry(
        row_direction=row,
        column_direction=col,
        normal=np.cross(row, col),
        pixel_spacing=(_ds_float(pixel_spacing[0]), _ds_float(pixel_spacing[1])),
        slice_spacing=_ds_float(slice_spacing),
        origin=np.array([float(v) for v in origin], dtype=np.float64),
    )


def _make_format(signed: bool, bits_allocated: int, bits_stored: Optional[int]) -> _PixelFormat:
    """Validate the pixel format options."""
    if bits_allocated not in (8, 16):
        raise ValueError(f"bits_allocated must be 8 or 16, got {bits_allocated}")
    stored = bits_allocated if bits_stored is None else int(bits_stored)
    if not 8 <= stored <= bits_allocated:
        raise ValueError(f"bits_stored must be between 8 and {bits_allocated}, got {stored}")
    return _PixelFormat(bits_allocated=bits_allocated, bits_stored=stored, signed=bool(signed))


def _rescale_of(k: int, slope: float, intercept: float, per_slice: bool) -> Tuple[float, float]:
    """(slope, intercept) of grid slice ``k``, rounded as written."""
    if per_slice:
        slope = slope * (1.0 + k * PER_SLICE_SLOPE_STEP)
        intercept = intercept + k * PER_SLICE_INTERCEPT_STEP
    return _ds_float(slope), _ds_float(intercept)


# ---------------------------------------------------------------------------
# Pixel content
# ---------------------------------------------------------------------------


def _rock_hu(
    k: int, rows: int, columns: int, pixel_spacing: Tuple[float, float], seed: int
) -> np.ndarray:
    """Core cross-section in HU: a layered, noisy rock disc inside air."""
    row_spacing, column_spacing = pixel_spacing
    y = (np.arange(rows) - (rows - 1) / 2.0)[:, None] * row_spacing
    x = (np.arange(columns) - (columns - 1) / 2.0)[None, :] * column_spacing
    radius = 0.45 * min(rows * row_spacing, columns * column_spacing)
    inside = (x * x + y * y) <= radius * radius

    phase = (seed % 997) * 0.61
    layer = 0.5 + 0.5 * math.sin(0.9 * k + phase)  # bedding along the core axis
    dip = np.sin(2.0 * math.pi * (x / max(radius, 1e-6)) * 0.5 + 0.35 * k)  # tilted beds
    rng = np.random.default_rng([seed, k])
    noise = rng.normal(0.0, 40.0, size=(rows, columns))
    rock = ROCK_MIN_HU + 0.8 * (ROCK_MAX_HU - ROCK_MIN_HU) * layer + 120.0 * dip + noise
    rock = np.clip(rock, ROCK_MIN_HU, ROCK_MAX_HU)
    return np.where(inside, rock, AIR_HU)


def _ramp_stored(k: int, rows: int, columns: int, fmt: _PixelFormat) -> np.ndarray:
    """Plain stored-value ramp, shifted per slice (``rock=False``)."""
    span = min(fmt.high, 4095) + 1
    return (np.arange(rows * columns).reshape(rows, columns) + 37 * k) % span


def _slice_stored(
    k: int,
    rows: int,
    columns: int,
    fmt: _PixelFormat,
    slope: float,
    intercept: float,
    pixel_spacing: Tuple[float, float],
    seed: int,
    rock: bool,
) -> np.ndarray:
    """Stored values of grid slice ``k``, with the slice mark in pixel [0, 0]."""
    if rock:
        hu = _rock_hu(k, rows, columns, pixel_spacing, seed)
        raw = np.rint((hu - intercept) / slope)
    else:
        raw = _ramp_stored(k, rows, columns, fmt).astype(np.float64)
    raw = np.clip(raw, fmt.low, fmt.high)
    raw[0, 0] = k % (fmt.high + 1)
    return raw.astype(fmt.dtype)


# ---------------------------------------------------------------------------
# DICOM datasets
# ---------------------------------------------------------------------------


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    """File meta information for one file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def _common_dataset(
    sop_class: str,
    sop_instance: str,
    uids: Dict[str, str],
    instance_number: int,
    series_number: int,
    patient_id: str,
) -> Dataset:
    """Patient, study, series and SOP common attributes."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.Modality = "CT"
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = f"Synthetic core {series_number}"
    ds.InstanceNumber = instance_number
    return ds


def _set_image_pixel(ds: Dataset, rows: int, columns: int, fmt: _PixelFormat) -> None:
    """Image Pixel module attributes (without the pixel data)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = fmt.bits_allocated
    ds.BitsStored = fmt.bits_stored
    ds.HighBit = fmt.bits_stored - 1
    ds.PixelRepresentation = 1 if fmt.signed else 0


def _set_pixel_data(ds: Dataset, pixels: np.ndarray, transfer_syntax: str) -> None:
    """Encode ``pixels`` (2D, or 3D for multi-frame) for ``transfer_syntax``."""
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless, pixels, generate_instance_uid=False)
        return
    vr = "OB" if pixels.dtype.itemsize == 1 else "OW"
    if transfer_syntax == ExplicitVRBigEndian:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
    else:
        pixels = pixels.astype(pixels.dtype.newbyteorder("<"))
    data = pixels.tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.add_new(0x7FE00010, vr, data)


def _single_frame_dataset(
    item: _Slice,
    geometry: _Geometry,
    fmt: _PixelFormat,
    uids: Dict[str, str],
    instance_number: int,
    series_number: int,
    patient_id: str,
    slice_thickness: float,
    transfer_syntax: str,
) -> Dataset:
    """CT Image Storage dataset of one slice."""
    sop_instance = _uid(uids["series"], "sop", item.k, item.copy)
    ds = _common_dataset(
        CT_IMAGE_STORAGE, sop_instance, uids, instance_number, series_number, patient_id
    )
    ds.file_meta = _file_meta(CT_IMAGE_STORAGE, sop_instance, transfer_syntax)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = _ds_list(geometry.position(item.k))
    ds.ImageOrientationPatient = _ds_list(
        list(geometry.row_direction) + list(geometry.column_direction)
    )
    ds.PixelSpacing = _ds_list(geometry.pixel_spacing)
    ds.SliceThickness = _ds(slice_thickness)
    ds.SliceLocation = _ds(float(np.dot(geometry.position(item.k), geometry.normal)))
    rows, columns = item.pixels.shape
    _set_image_pixel(ds, rows, columns, fmt)
    ds.RescaleIntercept = _ds(item.intercept)
    ds.RescaleSlope = _ds(item.slope)
    ds.RescaleType = "HU"
    ds.WindowCenter = _ds(WINDOW_CENTER)
    ds.WindowWidth = _ds(WINDOW_WIDTH)
    _set_pixel_data(ds, item.pixels, transfer_syntax)
    return ds


def _item(**attributes: Any) -> Dataset:
    """A sequence item with the given attributes."""
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def _rescale_item(item: _Slice) -> Dataset:
    """PixelValueTransformationSequence item for a slice's rescale."""
    return _item(RescaleIntercept=_ds(item.intercept), RescaleSlope=_ds(item.slope), RescaleType="HU")


def _per_frame_item(item: _Slice, stack_position: int, geometry: _Geometry, per_slice: bool) -> Dataset:
    """One PerFrameFunctionalGroupsSequence item."""
    group = Dataset()
    group.PlanePositionSequence = DicomSequence(
        [_item(ImagePositionPatient=_ds_list(geometry.position(item.k)))]
    )
    group.FrameContentSequence = DicomSequence(
        [_item(StackID="1", InStackPositionNumber=stack_position)]
    )
    if per_slice:
        group.PixelValueTransformationSequence = DicomSequence([_rescale_item(item)])
    return group


def _shared_item(
    first: _Slice, geometry: _Geometry, slice_thickness: float, per_slice: bool
) -> Dataset:
    """The SharedFunctionalGroupsSequence item."""
    group = Dataset()
    group.PlaneOrientationSequence = DicomSequence(
        [
            _item(
                ImageOrientationPatient=_ds_list(
                    list(geometry.row_direction) + list(geometry.column_direction)
                )
            )
        ]
    )
    group.PixelMeasuresSequence = DicomSequence(
        [_item(PixelSpacing=_ds_list(geometry.pixel_spacing), SliceThickness=_ds(slice_thickness))]
    )
    if not per_slice:
        group.PixelValueTransformationSequence = DicomSequence([_rescale_item(first)])
    group.FrameVOILUTSequence = DicomSequence(
        [_item(WindowCenter=_ds(WINDOW_CENTER), WindowWidth=_ds(WINDOW_WIDTH))]
    )
    return group


def _multiframe_dataset(
    frames: List[_Slice],
    geometry: _Geometry,
    fmt: _PixelFormat,
    uids: Dict[str, str],
    series_number: int,
    patient_id: str,
    slice_thickness: float,
    transfer_syntax: str,
    per_slice: bool,
) -> Dataset:
    """Enhanced CT Image Storage dataset holding ``frames`` in file order."""
    sop_instance = _uid(uids["series"], "sop", "multiframe")
    ds = _common_dataset(
        ENHANCED_CT_IMAGE_STORAGE, sop_instance, uids, 1, series_number, patient_id
    )
    ds.file_meta = _file_meta(ENHANCED_CT_IMAGE_STORAGE, sop_instance, transfer_syntax)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.ContentQualification = "PRODUCT"
    ranks = {k: rank for rank, k in enumerate(sorted(f.k for f in frames), start=1)}
    ds.SharedFunctionalGroupsSequence = DicomSequence(
        [_shared_item(frames[0], geometry, slice_thickness, per_slice)]
    )
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(
        [_per_frame_item(f, ranks[f.k], geometry, per_slice) for f in frames]
    )
    rows, columns = frames[0].pixels.shape
    _set_image_pixel(ds, rows, columns, fmt)
    _set_pixel_data(ds, np.stack([f.pixels for f in frames]), transfer_syntax)
    return ds


# ---------------------------------------------------------------------------
# Write order and file names
# ---------------------------------------------------------------------------


def _written_indices(slices: int, missing: Sequence[int], duplicate: Sequence[int]) -> List[int]:
    """Grid indices that are written, ascending; validates the options."""
    missing_set = {int(k) for k in missing}
    duplicate_set = {int(k) for k in duplicate}
    for name, indices in (("missing", missing_set), ("duplicate", duplicate_set)):
        bad = sorted(k for k in indices if not 0 <= k < slices)
        if bad:
            raise ValueError(f"{name} slice indices out of range 0..{slices - 1}: {bad}")
    if missing_set & duplicate_set:
        raise ValueError("a slice cannot be both missing and duplicated")
    written = [k for k in range(slices) if k not in missing_set]
    if not written:
        raise ValueError("all slices are missing")
    return written


def _write_order(
    written: List[int], duplicate: Sequence[int], reverse: bool
) -> List[Tuple[int, int]]:
    """(grid index, copy) pairs in file order."""
    duplicate_set = {int(k) for k in duplicate}
    order: List[Tuple[int, int]] = []
    for k in reversed(written) if reverse else written:
        order.append((k, 0))
        if k in duplicate_set:
            order.append((k, 1))
    return order


def _instance_numbers(count: int, shuffle: bool, seed: int) -> List[int]:
    """1-based numbers (file name and InstanceNumber) for files in write order."""
    numbers = list(range(1, count + 1))
    if shuffle and count > 1:
        rng = np.random.default_rng([seed, 7919])
        permuted = [int(n) for n in rng.permutation(numbers)]
        while permuted == numbers:  # a permutation that changes nothing hides nothing
            permuted = [int(n) for n in rng.permutation(numbers)]
        numbers = permuted
    return numbers


def _file_name(prefix: str, number: int, suffix: str) -> str:
    """File name of the file numbered ``number``."""
    return f"{prefix}{number:04d}{suffix}"


def _save(ds: Dataset, path: Path) -> None:
    """Write ``ds`` as a DICOM Part 10 file."""
    ds.save_as(path, enforce_file_format=True)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def write_core_series(
    folder: PathLike,
    *,
    rows: int = 24,
    columns: int = 20,
    slices: int = 12,
    pixel_spacing: Tuple[float, float] = (0.5, 0.4),
    slice_spacing: float = 1.0,
    origin: Tuple[float, float, float] = (-10.0, -20.0, 30.0),
    row_direction: Tuple[float, float, float] = (1.0, 0.0, 0.0),
    column_direction: Tuple[float, float, float] = (0.0, 1.0, 0.0),
    signed: bool = True,
    bits_allocated: int = 16,
    bits_stored: Optional[int] = None,
    slope: float = 1.0,
    intercept: float = 0.0,
    per_slice_rescale: bool = False,
    transfer_syntax: str = ExplicitVRLittleEndian,
    multiframe: bool = False,
    shuffle_names: bool = False,
    reverse_positions: bool = False,
    missing: Sequence[int] = (),
    duplicate: Sequence[int] = (),
    slice_thickness: Optional[float] = None,
    series_uid: Optional[str] = None,
    series_number: int = 1,
    study_uid: Optional[str] = None,
    patient_id: str = "CORE",
    file_prefix: str = "IM",
    file_suffix: str = ".dcm",
    seed: int = 0,
    rock: bool = True,
) -> SyntheticSeries:
    """Write one synthetic core series into ``folder`` and return its ground truth.

    Slice ``k`` of the regular grid lies at ``origin + k * slice_spacing *
    normal`` with ``normal = row_direction x column_direction``.

    Args:
        folder: Output folder (created if needed).
        rows, columns, slices: Size of the regular grid.
        pixel_spacing: DICOM PixelSpacing order: (row spacing, column spacing).
        slice_spacing: Distance between grid slices along the normal (mm).
        origin: ImagePositionPatient of grid slice 0 (LPS mm).
        row_direction, column_direction: ImageOrientationPatient triplets;
            must be orthonormal (oblique is fine).
        signed: PixelRepresentation 1 (True) or 0.
        bits_allocated: 8 or 16.
        bits_stored: Defaults to ``bits_allocated``; stored values are clipped
            to its range.
        slope, intercept: Rescale of every slice (of slice 0 if per-slice).
        per_slice_rescale: Slice ``k`` uses ``slope * (1 + 0.5 k)`` and
            ``intercept - 4 k``.
        transfer_syntax: Explicit/implicit VR little endian, explicit VR big
            endian, RLE lossless or deflated explicit VR little endian.
        multiframe: Write one Enhanced CT Image Storage file with functional
            groups instead of one CT Image Storage file per slice.  Frames are
            in ascending order (descending with ``reverse_positions``).
            ``shuffle_names`` and ``duplicate`` are not supported with it.
        shuffle_names: File names and InstanceNumbers follow a random
            permutation (from ``seed``) so only the positions give the order.
        reverse_positions: File/instance order runs against the normal.
        missing: Grid indices that are not written.
        duplicate: Grid indices written twice (same position and pixels, new
            SOPInstanceUID).
        slice_thickness: SliceThickness value; defaults to ``slice_spacing``.
        series_uid, study_uid: Defaults derived from ``seed`` (and the series
            number); the FrameOfReferenceUID is derived from the study UID.
        series_number, patient_id: Written as SeriesNumber, PatientID/Name.
        file_prefix, file_suffix: File names are ``<prefix>NNNN<suffix>``.
        seed: Drives the noise, the shuffling and the default UIDs.
        rock: Core cross-section content; otherwise a plain per-slice ramp.

    Returns:
        The written files and the expected volume, see :class:`SyntheticSeries`.
    """
    if rows < 1 or columns < 1 or slices < 1:
        raise ValueError("rows, columns and slices must be positive")
    if transfer_syntax not in SUPPORTED_TRANSFER_SYNTAXES:
        raise ValueError(f"unsupported transfer syntax {transfer_syntax!r}")
    if multiframe and (shuffle_names or duplicate):
        raise ValueError("multiframe cannot be combined with shuffle_names or duplicate")
    if slope == 0:
        raise ValueError("slope must not be zero")

    geometry = _make_geometry(pixel_spacing, slice_spacing, origin, row_direction, column_direction)
    fmt = _make_format(signed, bits_allocated, bits_stored)
    written = _written_indices(slices, missing, duplicate)
    thickness = geometry.slice_spacing if slice_thickness is None else float(slice_thickness)
    uids = _series_uids(seed, series_number, series_uid, study_uid)

    by_index = {
        k: _make_slice(k, rows, columns, fmt, slope, intercept, per_slice_rescale, geometry, seed, rock)
        for k in written
    }
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if multiframe:
        frames = [by_index[k] for k in (reversed(written) if reverse_positions else written)]
        path = out / _file_name(file_prefix, 1, file_suffix)
        _save(
            _multiframe_dataset(
                frames, geometry, fmt, uids, series_number, patient_id, thickness,
                transfer_syntax, per_slice_rescale,
            ),
            path,
        )
        files = [path]
    else:
        files = _write_single_frames(
            out, by_index, _write_order(written, duplicate, reverse_positions), geometry, fmt,
            uids, series_number, patient_id, thickness, transfer_syntax,
            shuffle_names, seed, file_prefix, file_suffix,
        )

    stored = np.stack([by_index[k].pixels for k in written])
    values = np.stack(
        [by_index[k].pixels.astype(np.float64) * by_index[k].slope + by_index[k].intercept for k in written]
    )
    return SyntheticSeries(
        folder=out,
        files=files,
        stored=stored,
        values=values,
        origin_lps=geometry.position(written[0]),
        directions_lps=geometry.directions(),
        series_uid=uids["series"],
    )


def _series_uids(
    seed: int, series_number: int, series_uid: Optional[str], study_uid: Optional[str]
) -> Dict[str, str]:
    """Study, series and frame-of-reference UIDs (deterministic defaults)."""
    study = study_uid or _uid("CoreBatchLoader-synthetic", seed, "study")
    series = series_uid or _uid("CoreBatchLoader-synthetic", seed, study, series_number, "series")
    return {"study": study, "series": series, "frame": _uid(study, "frame-of-reference")}


def _make_slice(
    k: int,
    rows: int,
    columns: int,
    fmt: _PixelFormat,
    slope: float,
    intercept: float,
    per_slice: bool,
    geometry: _Geometry,
    seed: int,
    rock: bool,
) -> _Slice:
    """Pixels and rescale of grid slice ``k``."""
    k_slope, k_intercept = _rescale_of(k, slope, intercept, per_slice)
    pixels = _slice_stored(
        k, rows, columns, fmt, k_slope, k_intercept, geometry.pixel_spacing, seed, rock
    )
    return _Slice(k=k, copy=0, pixels=pixels, slope=k_slope, intercept=k_intercept)


def _write_single_frames(
    out: Path,
    by_index: Dict[int, _Slice],
    order: List[Tuple[int, int]],
    geometry: _Geometry,
    fmt: _PixelFormat,
    uids: Dict[str, str],
    series_number: int,
    patient_id: str,
    thickness: float,
    transfer_syntax: str,
    shuffle: bool,
    seed: int,
    prefix: str,
    suffix: str,
) -> List[Path]:
    """Write one file per (slice, copy); return paths sorted along the normal."""
    numbers = _instance_numbers(len(order), shuffle, seed)
    paths: Dict[Tuple[int, int], Path] = {}
    for (k, copy), number in zip(order, numbers):
        item = dataclasses.replace(by_index[k], copy=copy)
        ds = _single_frame_dataset(
            item, geometry, fmt, uids, number, series_number, patient_id, thickness, transfer_syntax
        )
        path = out / _file_name(prefix, number, suffix)
        _save(ds, path)
        paths[(k, copy)] = path
    return [paths[key] for key in sorted(paths)]


def write_well(
    root: PathLike,
    *,
    cores: int = 3,
    slices: int = 12,
    rows: int = 24,
    columns: int = 20,
    **kwargs: Any,
) -> List[SyntheticSeries]:
    """Write ``cores`` consecutive core series of one well under ``root``.

    Core ``n`` (1-based) goes to ``root/core_00n`` with its own series UID and
    SeriesNumber ``n``; all cores share the study, frame of reference and
    patient.  Each core starts one core length (``slices * slice_spacing``)
    further down (smaller S) than the previous one, like consecutive core
    sections of a well.  Core ``n`` uses noise seed ``seed + n - 1``.  Other
    keyword arguments are forwarded to :func:`write_core_series`.
    """
    if cores < 1:
        raise ValueError("cores must be positive")
    for key in ("series_uid", "series_number"):
        if key in kwargs:
            raise ValueError(f"write_well assigns {key} per core; do not pass it")
    seed = int(kwargs.pop("seed", 0))
    origin = np.array(kwargs.pop("origin", (-10.0, -20.0, 30.0)), dtype=np.float64)
    study_uid = kwargs.pop("study_uid", None) or _uid("CoreBatchLoader-synthetic", seed, "well-study")
    core_length = slices * float(kwargs.get("slice_spacing", 1.0))
    root_path = Path(root)
    result: List[SyntheticSeries] = []
    for index in range(cores):
        core_origin = origin - np.array([0.0, 0.0, index * core_length])
        result.append(
            write_core_series(
                root_path / f"core_{index + 1:03d}",
                slices=slices,
                rows=rows,
                columns=columns,
                origin=(float(core_origin[0]), float(core_origin[1]), float(core_origin[2])),
                series_uid=_uid("CoreBatchLoader-synthetic", seed, study_uid, "core", index + 1),
                series_number=index + 1,
                study_uid=study_uid,
                seed=seed + index,
                **kwargs,
            )
        )
    return result
