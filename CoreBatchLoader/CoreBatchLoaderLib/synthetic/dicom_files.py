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

Only numpy, pydicom and the standard library are used, pydicom 2.4 or 3.x alike: the Slicer
self-test writes its data with this module inside Slicer 5.4–5.10, which ship pydicom 2.4 (and
Python 3.9 up to 5.8, hence Python 3.9 syntax).  Both versions write byte-identical files (the
file meta names this writer, not the pydicom version).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pydicom
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

# pydicom 3 renamed or added the two keywords the writer needs (save_as's enforce_file_format,
# compress's generate_instance_uid); pydicom 2.4 (Slicer 5.4–5.10) has neither and raises TypeError.
PYDICOM_3 = int(pydicom.__version__.split(".")[0]) >= 3


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
    # pydicom would write its own version here, the only byte in which its 2.4 and 3 files differ.
    meta.ImplementationVersionName = "CBL_SYNTHETIC"
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
        # pydicom 3 gives the compressed dataset a new SOPInstanceUID unless told not to; 2.4 never does.
        # pydicom's own encoder, not GDCM's (installed beside it, other bytes): the same file everywhere.
        ds.compress(RLELossless, pixels, encoding_plugin="pydicom",
                    **({"generate_instance_uid": False} if PYDICOM_3 else {}))
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
    scan: Sequence[Tuple[str, Any]] = (),
) -> Dataset:
    """CT Image Storage dataset of one slice; ``scan``: (keyword, value) pairs of how it was
    scanned (KVP, Manufacturer…), set as given (none: the file is the same bytes as before)."""
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
    # math.fsum, not np.dot: numpy 1.x and 2.x sum the products in other orders (an oblique
    # slice's 0.0 came out 3.55e-17 on one), and the file must be the same bytes on every stack
    ds.SliceLocation = _ds(math.fsum(float(p) * float(n) for p, n in zip(geometry.position(item.k), geometry.normal)))
    rows, columns = item.pixels.shape
    _set_image_pixel(ds, rows, columns, fmt)
    ds.RescaleIntercept = _ds(item.intercept)
    ds.RescaleSlope = _ds(item.slope)
    ds.RescaleType = "HU"
    ds.WindowCenter = _ds(WINDOW_CENTER)
    ds.WindowWidth = _ds(WINDOW_WIDTH)
    for keyword, value in scan:
        setattr(ds, keyword, value)
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
    """Write ``ds`` as a DICOM Part 10 file (preamble, 'DICM', file meta), on pydicom 2.4 and 3."""
    if PYDICOM_3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pragma: no cover - pydicom 2.4: the same file, under the keyword it had then
        ds.save_as(str(path), write_like_original=False)
