"""Read what a conversion needs from one DICOM file's header, never its pixel data.

A CT core is one *series* (DICOM PS3.3 C.7.3): one file per slice for classic CT Image Storage,
or one Enhanced CT file (PS3.3 A.38) whose frames each carry their own position in the
Per-Frame Functional Groups Sequence (5200,9230).  Either way this module turns a file into
:class:`SliceHeader` records, one per frame, holding the geometry tags
(Image Position / Orientation (Patient), Pixel Spacing), the pixel-module tags
(Rows, Columns, Bits Allocated / Stored, Pixel Representation), the Modality LUT
(Rescale Slope / Intercept), where the frame's bytes lie in the file, and how it was scanned
(kVp, tube current, exposure, scanner, kernel, date: :data:`SCAN_TAGS`, for the core's record —
read in the same pass, no file is opened again for them).

pydicom reads the header with ``defer_size`` so large values are skipped, not read; the Pixel
Data element (7FE0,0010) stays a ``RawDataElement`` whose ``value_tell`` is the byte offset of the
pixel values in the file (REFERENCE §8).
"""
from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

# Transfer syntax UIDs (PS3.5 A): plain strings so the fast path needs no pydicom import.
ImplicitVRLittleEndian = "1.2.840.10008.1.2"
ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
ExplicitVRBigEndian = "1.2.840.10008.1.2.2"

from ..messages import one_line
from .header_scanner import open_regular, scan_header

PIXEL_DATA_TAG = 0x7FE00010
SERIES_INSTANCE_UID_TAG = 0x0020000E
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # the DICOMDIR SOP class
NATIVE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian)
UNDEFINED_LENGTH = 0xFFFFFFFF

Vector3 = Tuple[float, float, float]


class NotAnImage(Exception):
    """The file is not DICOM, or a DICOM object without pixels (DICOMDIR, RTSTRUCT, SR, ...).

    ``not_dicom`` is the reason when the file is no DICOM at all (empty, zero-filled, another
    format): a slice lost in a copy looks so, and the folder's scan names it."""

    def __init__(self, path: str, not_dicom: Optional[str] = None) -> None:
        super().__init__(path)
        self.not_dicom = not_dicom


class DicomFileError(Exception):
    """The file claims to be DICOM but cannot be used; the message is one line.

    ``series_uid`` is set when the header was readable enough to tell which series the file
    belongs to (a truncated slice fails its core; an unreadable stray file does not).
    """

    def __init__(self, message: str, series_uid: Optional[str] = None) -> None:
        super().__init__(message)
        self.series_uid = series_uid


# Slots on Python ≥ 3.11 (dataclass ``slots`` is 3.10+, and frozen slotted dataclasses pickle
# from 3.11): a core keeps one header per slice while it converts, and an instance dict of 30
# fields is 1.5 KB of its ~3 KB.
_SLOTS = {"slots": True} if sys.version_info >= (3, 11) else {}


@dataclass(frozen=True, **_SLOTS)
class SliceHeader:
    """One 2-D image (a file, or one frame of a multi-frame file) and where its pixels are."""

    path: str
    frame: int
    number_of_frames: int
    series_uid: str
    series_number: Optional[int]
    instance_number: Optional[int]
    sop_class_uid: str
    sop_instance_uid: str  # (0008,0018): the image's identity; two files with it are one image
    image_type: str  # (0008,0008) ImageType as "ORIGINAL\\PRIMARY\\AXIAL"; LOCALIZER marks a scout
    transfer_syntax: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int  # 0 unsigned, 1 two's complement
    pixel_spacing: Optional[Tuple[float, float]]  # (row spacing, column spacing) in mm
    orientation: Optional[Tuple[float, float, float, float, float, float]]
    position: Optional[Vector3]  # ImagePositionPatient, LPS mm, centre of the first voxel
    slice_thickness: Optional[float]
    spacing_between_slices: Optional[float]
    slope: float
    intercept: float
    pixel_padding_value: Optional[int]
    pixel_offset: Optional[int]  # byte offset of this frame in the file (native syntaxes only)
    frame_bytes: int
    file_size: int
    pixel_data_ends_file: bool  # True when nothing follows the pixel data (REFERENCE §8)
    inverted: bool = False  # MONOCHROME1: the lowest stored value is white (Slicer inverts it)
    zero_slope: bool = False  # RescaleSlope 0 in the file, taken as 1 (as Slicer's reader does)
    # How it was scanned (SCAN_TAGS), None where the file does not say: for the core's record
    kvp: Optional[float] = None
    tube_current_ma: Optional[float] = None
    exposure_mas: Optional[float] = None
    manufacturer: Optional[str] = None
    model: Optional[str] = None
    kernel: Optional[str] = None
    acquisition_date: Optional[str] = None  # YYYY-MM-DD
    pixel_padding_range_limit: Optional[int] = None  # (0028,0121): padding runs from the value to this

    @property
    def is_native(self) -> bool:
        """Uncompressed pixels that can be copied from the file as they are."""
        return self.pixel_offset is not None

    @property
    def is_big_endian(self) -> bool:
        return self.transfer_syntax == ExplicitVRBigEndian

    @property
    def left_out_as(self) -> Optional[Tuple[str, str]]:
        """What this image is when it is an image but no slice of a core (else None): a
        scout/topogram (ImageType LOCALIZER), or a colour picture (SamplesPerPixel > 1) — the
        screen captures and dose reports scanners store beside the slices.  A CT slice is grey.
        Returned as (what it is, why), for the folder's warning."""
        if "LOCALIZER" in self.image_type.split("\\"):
            return "localizer image", "ImageType LOCALIZER"
        if self.samples_per_pixel != 1:
            return "colour image", "SamplesPerPixel %d: a screen capture or report" % self.samples_per_pixel
        return None

    @property
    def name(self) -> str:
        """File name, with the frame number for multi-frame files, for messages."""
        base = os.path.basename(self.path)
        return "%s frame %d" % (base, self.frame + 1) if self.number_of_frames > 1 else base


def dicom_start(path: str) -> Optional[str]:
    """What the first bytes say: "part10" (a preamble, "DICM" at 128), "bare" (a data set without
    one: it starts with a group 0x0002 or 0x0008 tag in little endian), or None (not DICOM).
    Raises :class:`.header_scanner.NotRegularFile` (an OSError) for a FIFO or device."""
    with open_regular(path) as f:
        return _start_of(f.read(HEAD_BYTES))


HEAD_BYTES = 4096  # a file's first bytes read to tell DICOM (_start_of) and how a file that is not looks


def _start_of(head: bytes) -> Optional[str]:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    if head[:2] in (b"\x02\x00", b"\x08\x00") and len(head) >= 8:
        return "bare"
    return None


def _not_dicom_reason(head: bytes) -> str:
    """How a file that is no DICOM looks (its first bytes), for the warning: "empty",
    "zero-filled" or "no DICOM header"."""
    if not head:
        return "empty"
    return "zero-filled" if head.count(0) == len(head) else "no DICOM header"


def read_slice_headers(path: str, use_scanner: bool = True) -> List[SliceHeader]:
    """Return one :class:`SliceHeader` per frame of the image in ``path``.

    Raises :class:`NotAnImage` for files to skip silently, :class:`DicomFileError`
    (one line, naming the file) for DICOM files that are broken, and ``OSError`` when the file
    cannot be read at all.  pydicom's warnings about odd values are not shown: what matters
    surfaces as an error or a core warning.  ``use_scanner`` False forces pydicom (the fast
    scanner handles classic little-endian files; the tests compare the two).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read_slice_headers(path, use_scanner)


def _read_slice_headers(path: str, use_scanner: bool) -> List[SliceHeader]:
    name = os.path.basename(path)
    if name.upper() == "DICOMDIR":
        raise NotAnImage(path)
    scanned = scan_header(path) if use_scanner else None  # the common case, one open() per file
    if scanned is not None and scanned.get("MediaStorageSOPClassUID") != MEDIA_STORAGE_DIRECTORY and (
            scanned.pixel_length and scanned.get("Rows") and scanned.get("Columns")):
        try:
            return _frames(path, scanned, scanned["TransferSyntaxUID"], scanned.pixel_tell,
                           scanned.pixel_length, scanned.file_size)
        except DicomFileError:
            raise
        except Exception:
            pass  # let pydicom read it and word the error
    # One open for the first bytes and for pydicom, as the scanner opens a slice: a file swapped
    # for a FIFO or a device since then is an OSError (NotRegularFile) here, not a hang in
    # pydicom's own open.
    with open_regular(path) as stream:
        head = stream.read(HEAD_BYTES)  # tells DICOM or not, and what a file that is not looks like
        start = _start_of(head)
        if start is None:
            raise NotAnImage(path, not_dicom=_not_dicom_reason(head))
        import pydicom  # only for files the scanner leaves (other syntaxes, multi-frame, broken files)
        stream.seek(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = pydicom.dcmread(stream, defer_size=256, force=True)
                elements = dict(ds._dict)  # keep the Pixel Data element raw (value_tell, length)
            except Exception as exc:  # pydicom raises many types for garbage after a valid preamble
                raise DicomFileError("%s: not readable as DICOM (%s)" % (name, one_line(exc, 200)),
                                     series_uid=_series_before_pixels(path)) from None
    try:
        if "SOPClassUID" not in ds and not getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None):
            if start == "part10":
                reason = one_line(caught[0].message, 200) if caught else "no SOP Class UID"
                raise DicomFileError("%s: DICOM preamble but no readable data set (%s)" % (name, reason))
            raise NotAnImage(path)
        meta = getattr(ds, "file_meta", None)
        media_class = str(getattr(meta, "MediaStorageSOPClassUID", "")) if meta else ""
        if media_class == MEDIA_STORAGE_DIRECTORY:
            raise NotAnImage(path)
        raw_pixels = elements.get(PIXEL_DATA_TAG)
        if raw_pixels is None or "Rows" not in ds or "Columns" not in ds:
            if _claims_an_image(ds, media_class):
                raise _cut_short(path, ds)
            raise NotAnImage(path)  # RTSTRUCT, SR, presentation state, ...
        return _frames(path, ds, _transfer_syntax(ds), getattr(raw_pixels, "value_tell", None),
                       getattr(raw_pixels, "length", None), os.path.getsize(path))
    except (DicomFileError, NotAnImage):
        raise
    except Exception as exc:  # malformed values: wrong VR (also "UK" in the File Meta), bad numbers, ...
        raise DicomFileError("%s: unusable DICOM header (%s)" % (name, one_line(exc, 200)),
                             series_uid=_series_uid_or_none(ds)) from None


# (7FE0,0010) of undefined length: encapsulated pixel data (OB or OW as writers give it, or implicit VR)
ENCAPSULATED_PIXEL_DATA = re.compile(rb"\xe0\x7f\x10\x00(?:O[BW]\x00\x00)?\xff\xff\xff\xff")


def _cut_short(path: str, ds: Any) -> DicomFileError:
    """The error for an image file pydicom read no Pixel Data from: compressed pixel data cut
    short (pydicom then loses the whole data set, so the series is read again from the file's
    start) or a header that ends before the pixels.  Either fails the slice's core, naming it."""
    name, size = os.path.basename(path), os.path.getsize(path)
    series_uid = _series_uid_or_none(ds) or _series_before_pixels(path)
    with open_regular(path) as stream:
        found = list(ENCAPSULATED_PIXEL_DATA.finditer(stream.read()))
    starts_at = found[-1].start() if found else -1
    if starts_at >= 0:
        return DicomFileError("%s: compressed pixel data truncated: the file (%d bytes) ends inside (7FE0,0010) "
                              "PixelData (from byte %d), before its sequence delimiter" % (name, size, starts_at),
                              series_uid=series_uid)
    return DicomFileError("%s: header cut short: the file (%d bytes) ends before (7FE0,0010) PixelData" % (
        name, size), series_uid=series_uid)


def _frames(path: str, ds: Any, syntax: str, value_tell: Optional[int], length: Optional[int],
            file_size: int) -> List[SliceHeader]:
    """SliceHeaders from a header ``ds`` (a pydicom Dataset, or a ScannedHeader: both answer
    ``get(keyword)`` and ``keyword in ds``) and where its Pixel Data value lies."""
    name = os.path.basename(path)
    rows, columns = int(ds.get("Rows")), int(ds.get("Columns"))
    for tag, keyword, value in (("(0028,0010)", "Rows", rows), ("(0028,0011)", "Columns", columns)):
        if value < 1:
            raise DicomFileError("%s: %s %s is %d: an image has at least one" % (name, tag, keyword, value),
                                 series_uid=str(ds.get("SeriesInstanceUID", "")))
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits_allocated = int(ds.get("BitsAllocated", 16) or 16)
    bits_stored = int(ds.get("BitsStored", bits_allocated) or bits_allocated)
    representation = int(ds.get("PixelRepresentation", 0) or 0)
    if bits_allocated not in (8, 16, 32):
        raise DicomFileError("%s: (0028,0100) BitsAllocated is %d; only 8, 16 or 32 are supported"
                             % (name, bits_allocated))
    frame_bytes = rows * columns * samples * bits_allocated // 8
    frames = _frame_count(name, ds, frame_bytes, length if syntax in NATIVE_SYNTAXES else None)
    offset = None
    ends_file = False
    if syntax in NATIVE_SYNTAXES and length not in (None, UNDEFINED_LENGTH) and value_tell is not None:
        if value_tell + length > file_size or length < frame_bytes * frames:
            raise DicomFileError(
                "%s: pixel data truncated (%d bytes needed for %d×%d×%d at %d bits, %d in file)"
                % (name, frame_bytes * frames, frames, rows, columns, bits_allocated,
                   max(0, min(length, file_size - value_tell))),
                series_uid=str(ds.get("SeriesInstanceUID", "")))
        offset = int(value_tell)
        # The pixels end the file only when nothing follows them, not even the pad byte that
        # makes odd-length pixel data even (PS3.5 7.1.1): "byte skip -1" relies on it.
        ends_file = value_tell + frame_bytes * frames == file_size
    elif syntax in NATIVE_SYNTAXES:
        raise DicomFileError("%s: native transfer syntax but encapsulated pixel data" % name)

    common = dict(
        path=path,
        number_of_frames=frames,
        series_uid=sys.intern(str(ds.get("SeriesInstanceUID", ""))),  # the same text in every slice: one copy
        series_number=_int_or_none(ds.get("SeriesNumber")),
        sop_class_uid=sys.intern(str(ds.get("SOPClassUID", ""))),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        image_type=sys.intern(_image_type(ds.get("ImageType"))),
        transfer_syntax=sys.intern(str(syntax)),  # a pydicom UID is a str subclass: keep the plain text
        rows=rows,
        columns=columns,
        samples_per_pixel=samples,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=representation,
        pixel_padding_value=_int_or_none(ds.get("PixelPaddingValue")),
        pixel_padding_range_limit=_int_or_none(ds.get("PixelPaddingRangeLimit")),
        frame_bytes=frame_bytes,
        file_size=file_size,
        pixel_data_ends_file=ends_file,
    )
    common["inverted"] = str(ds.get("PhotometricInterpretation", "") or "").strip().upper() == "MONOCHROME1"
    common.update(_scan_fields(ds))
    numbers = GeometryNumbers(name, common["series_uid"])
    if frames == 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        return [SliceHeader(
            frame=0,
            instance_number=_int_or_none(ds.get("InstanceNumber")),
            pixel_offset=offset,
            **numbers.read(ds.get),
            **common)]
    return [_enhanced_frame(ds, k, offset, common, numbers) for k in range(frames)]


SCAN_TAGS = (  # SliceHeader field, keyword(s) (the first present), tag: informational, never an error
    ("kvp", ("KVP",), "(0018,0060)"),
    ("tube_current_ma", ("XRayTubeCurrent",), "(0018,1151)"),
    ("exposure_mas", ("Exposure",), "(0018,1152)"),
    ("manufacturer", ("Manufacturer",), "(0008,0070)"),
    ("model", ("ManufacturerModelName",), "(0008,1090)"),
    ("kernel", ("ConvolutionKernel",), "(0018,1210)"),
    ("acquisition_date", ("AcquisitionDate", "SeriesDate", "StudyDate"), "(0008,0022), (0008,0021), (0008,0020)"),
)
SCAN_READINGS = ("kvp", "tube_current_ma", "exposure_mas")  # numbers; the others are text


def _scan_fields(ds: Any) -> Dict[str, Any]:
    """The :data:`SCAN_TAGS` of a header (a Dataset or a ScannedHeader), for the record only: a
    value that is absent or malformed is None, never an error (these numbers place nothing)."""
    fields: Dict[str, Any] = {}
    for field_name, keywords, _ in SCAN_TAGS:
        value = None
        for keyword in keywords:
            try:
                value = ds.get(keyword)
            except Exception:  # pydicom may refuse a malformed value on access
                value = None
            if value not in (None, ""):
                break
        fields[field_name] = _reading(value) if field_name in SCAN_READINGS else _scan_text(value, field_name)
    return fields


def _reading(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _scan_text(value: Any, field_name: str) -> Optional[str]:
    """Text as one line (several values joined by backslashes); a DA date as YYYY-MM-DD; the
    same text in every slice kept once (interned)."""
    if value in (None, ""):
        return None
    if not isinstance(value, (str, bytes)):
        try:
            value = "\\".join(str(v) for v in value)
        except TypeError:
            value = str(value)
    text = (value.decode("latin-1") if isinstance(value, bytes) else str(value)).strip(" \0")
    if field_name == "acquisition_date" and len(text) == 8 and text.isdigit():
        text = "%s-%s-%s" % (text[:4], text[4:6], text[6:])
    return sys.intern(text) if text else None


def median_of_few(values: Sequence[float]) -> float:
    """The median of a few numbers (the mean of the middle two for an even count), as
    ``np.median`` gives it: by hand because numpy takes 20–60 µs for 32 numbers where sorting
    them takes 2 (the unwrap takes one a slice for its first 32), and ``statistics`` adds 4 ms of
    imports."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def scan_settings(slices: Sequence[SliceHeader]) -> Dict[str, Any]:
    """How a core was scanned, from its slices' headers: per :data:`SCAN_TAGS` field the value
    most slices give (ties: the first slice's), the median for the tube current and exposure
    (tube current modulation varies them from slice to slice); None where no slice says."""
    settings: Dict[str, Any] = {}
    for field_name, _, _ in SCAN_TAGS:
        values = [getattr(s, field_name) for s in slices if getattr(s, field_name) is not None]
        if not values:
            settings[field_name] = None
        elif field_name in ("tube_current_ma", "exposure_mas"):
            settings[field_name] = median_of_few(values)
        else:
            settings[field_name] = Counter(values).most_common(1)[0][0]
    return settings


def _frame_count(name: str, ds: Any, frame_bytes: int, length: Optional[int]) -> int:
    """(0028,0008) NumberOfFrames (1 when absent), checked against what the file holds: the
    per-frame functional groups' items and, for native pixel data of known ``length``, the
    frames it holds.  A count that contradicts either is an error naming both numbers — a
    count of 0 over 10 frames was written as one slice."""
    claimed = ds.get("NumberOfFrames")
    frames = int(claimed) if claimed not in (None, "") else 1
    held = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) != frames:
        held.append("(5200,9230) PerFrameFunctionalGroupsSequence has %d items" % len(per_frame))
    if length not in (None, UNDEFINED_LENGTH) and frame_bytes > 0 and length // frame_bytes > max(frames, 1):
        held.append("(7FE0,0010) PixelData holds %d frames" % (length // frame_bytes))
    if held:
        raise DicomFileError("%s: (0028,0008) NumberOfFrames is %d but %s" % (name, frames, " and ".join(held)),
                             series_uid=str(ds.get("SeriesInstanceUID", "")))
    return max(frames, 1)


GEOMETRY_TAGS = (  # SliceHeader field, keyword, tag, how many numbers
    ("pixel_spacing", "PixelSpacing", "(0028,0030)", 2),
    ("orientation", "ImageOrientationPatient", "(0020,0037)", 6),
    ("position", "ImagePositionPatient", "(0020,0032)", 3),
    ("slice_thickness", "SliceThickness", "(0018,0050)", 1),
    ("spacing_between_slices", "SpacingBetweenSlices", "(0018,0088)", 1),
    ("slope", "RescaleSlope", "(0028,1053)", 1),
    ("intercept", "RescaleIntercept", "(0028,1052)", 1),
)


class GeometryNumbers:
    """The numbers that place a slice and scale its values, read strictly: a value that is there
    but is no finite number of the right count (NaN, ±inf, ``1e400``, text, three numbers for
    two) is a one-line :class:`DicomFileError` naming the file and the tag — never a slice
    placed at NaN or a volume of NaN.  Absent or empty means absent (the geometry decides)."""

    def __init__(self, file_name: str, series_uid: str) -> None:
        self.file_name = file_name
        self.series_uid = series_uid

    def read(self, get: Any) -> dict:
        """SliceHeader fields from ``get(keyword)`` (a Dataset's, a functional group's)."""
        fields = {}
        for field_name, keyword, tag, count in GEOMETRY_TAGS:
            values = self.numbers(get(keyword), keyword, tag, count)
            fields[field_name] = values if count > 1 or values is None else values[0]
        if fields["slope"] is None:
            fields["slope"] = 1.0
        elif fields["slope"] == 0.0:
            fields["slope"], fields["zero_slope"] = 1.0, True
        if fields["intercept"] is None:
            fields["intercept"] = 0.0
        return fields

    def numbers(self, value: Any, keyword: str, tag: str, count: int) -> Optional[tuple]:
        if value is None or value == "" or (not isinstance(value, (str, bytes, int, float)) and len(value) == 0):
            return None
        items = [value] if isinstance(value, (str, bytes, int, float)) else list(value)
        if len(items) == 1 and isinstance(items[0], (str, bytes)) and count > 1:
            text = items[0].decode("ascii", "replace") if isinstance(items[0], bytes) else items[0]
            items = text.split("\\")
        try:
            numbers = tuple(float(v) for v in items)
        except (TypeError, ValueError):
            raise self.error("%s %s '%s' is malformed: not a number" % (tag, keyword, _shown(items))) from None
        if len(numbers) != count:
            raise self.error("%s %s '%s' is malformed: %d value%s where %d belong" % (
                tag, keyword, _shown(items), len(numbers), "" if len(numbers) == 1 else "s", count))
        if not all(math.isfinite(n) for n in numbers):
            raise self.error("%s %s '%s' is malformed: not a finite number (NaN, infinite or too large)"
                             % (tag, keyword, _shown(items)))
        return numbers

    def error(self, what: str) -> DicomFileError:
        return DicomFileError("%s: %s" % (self.file_name, what), series_uid=self.series_uid or None)


def _shown(items: List[Any]) -> str:
    """The value as the file wrote it, for an error (only then: a header scan reads seven of
    these per file)."""
    return "\\".join(_number_text(v) for v in items)


def _number_text(value: Any) -> str:
    """A number as the file wrote it where pydicom kept that text (DS "1e400"), else as parsed."""
    original = getattr(value, "original_string", None)
    if original is not None:
        return str(original).strip()
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip()
    return str(value).strip()


def _enhanced_frame(ds: Any, k: int, offset: Optional[int], common: dict, numbers: GeometryNumbers) -> SliceHeader:
    """Frame ``k`` of a multi-frame file: functional groups per frame, else shared (PS3.3 C.7.6.16)."""
    def group(sequence: str) -> Any:
        for groups_name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
            groups = ds.get(groups_name)
            if not groups:
                continue
            item = groups[k] if groups_name.startswith("PerFrame") and len(groups) > k else groups[0]
            if sequence in item and len(item[sequence].value) > 0:
                return item[sequence][0]
        return None

    position = group("PlanePositionSequence")
    orientation = group("PlaneOrientationSequence")
    measures = group("PixelMeasuresSequence")
    transform = group("PixelValueTransformationSequence")
    if position is None and ds.get("ImagePositionPatient") is None:
        raise DicomFileError("%s: multi-frame image without per-frame positions "
                             "(5200,9230) PlanePositionSequence" % os.path.basename(ds.filename))

    groups = {"PixelSpacing": measures, "SliceThickness": measures, "SpacingBetweenSlices": measures,
              "ImageOrientationPatient": orientation, "ImagePositionPatient": position,
              "RescaleSlope": transform, "RescaleIntercept": transform}

    def pick(keyword: str) -> Any:
        item = groups.get(keyword)
        if item is not None and keyword in item:
            return item.get(keyword)
        return ds.get(keyword)

    return SliceHeader(
        frame=k,
        instance_number=k + 1,
        pixel_offset=None if offset is None else offset + k * common["frame_bytes"],
        **numbers.read(pick),
        **common)


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if syntax:
        return str(syntax)
    # Bare dataset: pydicom guessed the encoding while reading.
    if getattr(ds, "original_encoding", (True, True))[0]:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian


def transfer_syntax_name(uid: str) -> str:
    """"JPEG Baseline (Process 1) (1.2.840.10008.1.2.4.50)" for messages."""
    try:
        from pydicom.uid import UID
        return "%s (%s)" % (UID(uid).name, uid)
    except Exception:
        return uid


def _image_type(value: Any) -> str:
    """ImageType values joined by backslashes, upper case (pydicom gives a list, the scanner text)."""
    if value is None:
        return ""
    if isinstance(value, (str, bytes)):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        return text.strip().upper()
    return "\\".join(str(v).strip() for v in value).upper()


IMAGE_CLASS_PREFIXES = tuple("1.2.840.10008.5.1.4.1.1." + n for n in ("2", "4", "7", "128", "130", "20", "13.1"))
"""SOP classes of images a core can be made of (CT, MR, secondary capture, PET, NM, X-ray 3D):
such a file without Pixel Data was cut short, not an RTSTRUCT or SR to skip."""
IMAGE_KEYWORDS = ("Rows", "Columns", "BitsAllocated", "ImagePositionPatient", "PixelSpacing")


def _claims_an_image(ds: Any, media_class: str) -> bool:
    """The file says it is an image (its class or its image tags) though it has no pixels."""
    for sop_class in (str(ds.get("SOPClassUID", "") or ""), media_class):  # the first may be cut itself
        if any(sop_class == prefix or sop_class.startswith(prefix + ".") for prefix in IMAGE_CLASS_PREFIXES):
            return True
    return any(keyword in ds for keyword in IMAGE_KEYWORDS)


def _series_before_pixels(path: str) -> Optional[str]:
    """The series of a file pydicom could not read to the end, if its start names it: a slice cut
    short then fails its core instead of vanishing as a stray file."""
    try:
        from pydicom.filereader import read_partial
        with open_regular(path) as stream:  # stops right after the series: the damage lies further on
            ds = read_partial(stream, stop_when=lambda tag, *_: tag > SERIES_INSTANCE_UID_TAG, defer_size=256,
                              force=True)
        return _series_uid_or_none(ds)
    except Exception:
        return None


def _series_uid_or_none(ds: Any) -> Optional[str]:
    try:
        return str(ds.SeriesInstanceUID)
    except Exception:
        return None


def _int_or_none(value: Any) -> Optional[int]:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
