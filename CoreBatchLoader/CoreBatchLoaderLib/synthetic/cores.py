"""Whole synthetic cores and wells: the series a test, the demo, the bench or the self-test asks for.

Built from the DICOM datasets of :mod:`.dicom_files` (which this package keeps apart so that
each file stays one concern: datasets and pixels there, series and wells here).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian

from .dicom_files import (  # package-internal helpers of the dataset writer
    SUPPORTED_TRANSFER_SYNTAXES,
    PathLike,
    SyntheticSeries,
    _file_name,
    _Geometry,
    _instance_numbers,
    _make_format,
    _make_geometry,
    _multiframe_dataset,
    _PixelFormat,
    _rescale_of,
    _save,
    _single_frame_dataset,
    _Slice,
    _slice_stored,
    _uid,
    _write_order,
    _written_indices,
)


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
    scan: Sequence[Tuple[str, Any]] = (),
) -> List[Path]:
    """Write one file per (slice, copy), each with the ``scan`` tags; return paths sorted along
    the normal."""
    numbers = _instance_numbers(len(order), shuffle, seed)
    paths: Dict[Tuple[int, int], Path] = {}
    for (k, copy), number in zip(order, numbers):
        item = dataclasses.replace(by_index[k], copy=copy)
        ds = _single_frame_dataset(
            item, geometry, fmt, uids, number, series_number, patient_id, thickness, transfer_syntax, scan
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

