"""Voxel values: stored pixel values through the Modality LUT, in the smallest exact type.

DICOM stores integers (Bits Stored (0028,0101) bits, signed when Pixel Representation
(0028,0103) is 1); the real quantity (Hounsfield units for CT) is
``stored × RescaleSlope (0028,1053) + RescaleIntercept (0028,1052)`` (PS3.3 C.11.1.1.2), per slice.

The output type is the smallest integer type holding every value the stored bits can give after
rescaling; float32 only when a slope or intercept is fractional.  Slicer widens unsigned 16-bit
data with a negative intercept to int32 (doubling the file); here such data is written as int16
*speculatively* — each slice is checked, and a value outside int16 raises
:class:`OutOfRange`, upon which the caller starts again with the wide type.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .dicom_headers import SliceHeader

# NRRD "type" field names (http://teem.sourceforge.net/nrrd/format.html#type) as Slicer writes them.
NRRD_TYPES = {
    "int8": "signed char", "uint8": "uchar", "int16": "short", "uint16": "ushort",
    "int32": "int", "uint32": "uint", "int64": "longlong", "float32": "float", "float64": "double",
}
_INTEGER_CANDIDATES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")


class OutOfRange(Exception):
    """A speculative narrow output type cannot hold a value of this slice."""


@dataclass(frozen=True)
class ValueMapping:
    """How stored values of a core become voxel values."""

    stored_dtype: str  # numpy dtype string with byte order, e.g. "<u2"
    bits_stored: int
    output_dtype: str  # numpy name: "int16", "float32", ...
    speculative: bool  # output narrower than the stored range allows; check every slice
    wide_dtype: str  # the type to fall back to when speculation fails

    @property
    def nrrd_type(self) -> str:
        return NRRD_TYPES[self.output_dtype]

    def widened(self) -> "ValueMapping":
        return ValueMapping(self.stored_dtype, self.bits_stored, self.wide_dtype, False, self.wide_dtype)


def stored_range(bits_stored: int, signed: bool) -> Tuple[int, int]:
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


def choose_mapping(slices: Sequence[SliceHeader]) -> ValueMapping:
    """Pick the output type for a core from its pixel format and every slice's rescale."""
    first = slices[0]
    signed = first.pixel_representation == 1
    order = ">" if first.is_big_endian else "<"
    stored = "%s%s%d" % (order, "i" if signed else "u", first.bits_allocated // 8)
    low, high = stored_range(first.bits_stored, signed)
    pairs = {(s.slope, s.intercept) for s in slices}
    if any(not float(a).is_integer() or not float(b).is_integer() for a, b in pairs):
        return ValueMapping(stored, first.bits_stored, "float32", False, "float32")
    out_low = min(min(a * low + b, a * high + b) for a, b in pairs)
    out_high = max(max(a * low + b, a * high + b) for a, b in pairs)
    wide = smallest_integer_type(out_low, out_high)
    stored_size = first.bits_allocated // 8
    if np.dtype(wide).itemsize > stored_size and stored_size < 8:
        # e.g. unsigned 16-bit with intercept -1024: real CT never uses the top of the range.
        return ValueMapping(stored, first.bits_stored, "int%d" % (8 * stored_size), True, wide)
    return ValueMapping(stored, first.bits_stored, wide, False, wide)


def smallest_integer_type(low: float, high: float) -> str:
    for name in _INTEGER_CANDIDATES:
        info = np.iinfo(name)
        if info.min <= low and high <= info.max:
            return name
    raise ValueError("values from %g to %g do not fit a 64-bit integer" % (low, high))


def to_voxels(stored: np.ndarray, header: SliceHeader, mapping: ValueMapping) -> np.ndarray:
    """Stored values of one slice (any byte order) → voxel values in ``mapping.output_dtype``.

    Bits above Bits Stored are masked off (unsigned) or sign-extended (signed) first, as
    DICOM requires (PS3.5 8.1.1) — some scanners put overlays or garbage there.
    """
    values = _significant_bits(stored, header)
    out = np.dtype(mapping.output_dtype)
    slope, intercept = header.slope, header.intercept
    if mapping.output_dtype.startswith("float"):
        result = values.astype(np.float64)
        if slope != 1.0:
            result *= slope
        if intercept != 0.0:
            result += intercept
        return result.astype(out)
    if slope == 1.0 and intercept == 0.0 and values.dtype.itemsize <= out.itemsize and (
            not mapping.speculative):
        return values.astype(out, copy=False)  # same type: no copy beyond the byte order
    if mapping.speculative:
        wide = values.astype(np.int64) if values.dtype.itemsize >= 4 else values.astype(np.int32)
        if slope != 1.0:
            wide *= int(slope)
        if intercept != 0.0:
            wide += int(intercept)
        info = np.iinfo(out)
        if wide.size and (int(wide.min()) < info.min or int(wide.max()) > info.max):
            raise OutOfRange("%s: values %d..%d do not fit %s" % (
                header.name, int(wide.min()), int(wide.max()), mapping.output_dtype))
        return wide.astype(out)
    result = values.astype(out)  # the range proves the rescaled values fit
    if slope != 1.0:
        result *= out.type(int(slope))
    if intercept != 0.0:
        result += out.type(int(intercept))
    return result


def background_value(header: SliceHeader, mapping: ValueMapping) -> float:
    """Value for slices filled into a gap: the padding value if the scanner gave one, else the
    lowest value the stored bits can represent (air for CT), rescaled."""
    low, _ = stored_range(header.bits_stored, header.pixel_representation == 1)
    stored = header.pixel_padding_value if header.pixel_padding_value is not None else low
    value = stored * header.slope + header.intercept
    if not mapping.output_dtype.startswith("float"):
        info = np.iinfo(mapping.output_dtype)
        value = min(max(value, info.min), info.max)
    return value


def _significant_bits(stored: np.ndarray, header: SliceHeader) -> np.ndarray:
    unused = header.bits_allocated - header.bits_stored
    if unused <= 0:
        return stored
    native = stored.astype(stored.dtype.newbyteorder("="), copy=False)
    if header.pixel_representation == 1:
        shift = native.dtype.type(unused)
        return (native << shift) >> shift  # arithmetic shift sign-extends
    return native & native.dtype.type((1 << header.bits_stored) - 1)


def describe_range(mapping: ValueMapping) -> Optional[str]:
    if mapping.output_dtype == mapping.wide_dtype:
        return None
    return "written as %s; widened to %s if a value does not fit" % (mapping.output_dtype, mapping.wide_dtype)
