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
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..messages import first_few
from .headers import SliceHeader

# NRRD "type" field names (http://teem.sourceforge.net/nrrd/format.html#type) as Slicer writes them.
NRRD_TYPES = {
    "int8": "signed char", "uint8": "uchar", "int16": "short", "uint16": "ushort",
    "int32": "int", "uint32": "uint", "int64": "longlong", "float32": "float", "float64": "double",
}
_INTEGER_CANDIDATES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "int64")


class OutOfRange(Exception):
    """A speculative narrow output type cannot hold a value of this slice."""


class ValueRangeError(ValueError):
    """The Modality LUT gives values no output type holds (beyond float32, or a 64-bit integer);
    the message names the file and the tags."""


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
    out_low = min(min(a * low + b, a * high + b) for a, b in pairs)
    out_high = max(max(a * low + b, a * high + b) for a, b in pairs)
    if any(not float(a).is_integer() or not float(b).is_integer() for a, b in pairs):
        if max(-out_low, out_high) > FLOAT32_MAX:
            raise _beyond(slices, low, high, FLOAT32_MAX, "float32")
        return ValueMapping(stored, first.bits_stored, "float32", False, "float32")
    try:
        wide = smallest_integer_type(out_low, out_high)
    except ValueError:
        raise _beyond(slices, low, high, float(np.iinfo(np.int64).max), "a 64-bit integer") from None
    stored_size = first.bits_allocated // 8
    if np.dtype(wide).itemsize > stored_size and stored_size < 8:
        # e.g. unsigned 16-bit with intercept -1024: real CT never uses the top of the range.
        return ValueMapping(stored, first.bits_stored, "int%d" % (8 * stored_size), True, wide)
    return ValueMapping(stored, first.bits_stored, wide, False, wide)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _beyond(slices: Sequence[SliceHeader], low: int, high: int, limit: float, kind: str) -> ValueRangeError:
    """The error naming the first slice whose rescale of the stored range ``low``…``high`` passes ``limit``."""
    for s in slices:
        ends = (s.slope * low + s.intercept, s.slope * high + s.intercept)
        if max(abs(v) for v in ends) > limit:
            return ValueRangeError(
                "%s: (0028,1053) RescaleSlope %g and (0028,1052) RescaleIntercept %g give values from %g to %g, "
                "beyond what %s holds (±%.4g): not a CT number" % (
                    s.name, s.slope, s.intercept, min(ends), max(ends), kind, limit))
    return ValueRangeError("the Modality LUT's values do not fit %s" % kind)


def smallest_integer_type(low: float, high: float) -> str:
    for name in _INTEGER_CANDIDATES:
        info = np.iinfo(name)
        if info.min <= low and high <= info.max:
            return name
    raise ValueError("values from %g to %g do not fit a 64-bit integer" % (low, high))


class VoxelConverter:
    """Turns one slice of stored values after another into voxel values, reusing its buffers.

    Works in place on the stored slice where the sizes allow (the caller hands over a scratch
    array), and does integer rescaling in the output type with wrap-around arithmetic: when the
    true result is known to fit the type — from the type's range, or, for a speculative narrow
    type, from this slice's stored minimum and maximum — modular arithmetic gives it exactly.
    One or two passes over a slice that sits in the CPU cache: close to the cost of copying it.
    """

    def __init__(self, mapping: ValueMapping, rows: int, columns: int) -> None:
        self.mapping = mapping
        self.output = np.dtype(mapping.output_dtype)
        self._shape = (rows, columns)
        self._out: Optional[np.ndarray] = None
        self._float: Optional[np.ndarray] = None

    def convert(self, stored: np.ndarray, header: SliceHeader) -> np.ndarray:
        """Voxel values of ``stored`` (which may be modified) for the slice ``header``."""
        values = _significant_bits(stored, header)
        if header.inverted:  # MONOCHROME1, as GDCM turns it into MONOCHROME2 for Slicer
            low, high = stored_range(header.bits_stored, header.pixel_representation == 1)
            np.subtract(values.dtype.type(low + high), values, out=values)
        slope, intercept = header.slope, header.intercept
        if self.output.kind == "f":
            return self._floats(values, slope, intercept)
        if self.mapping.speculative:
            self._check_fits(values, header)
        if slope == 1.0 and intercept == 0.0 and values.dtype == self.output:
            return values
        if values.dtype.itemsize == self.output.itemsize:
            result = values.view(self.output)  # same bits, read as the output type
        else:
            result = self._buffer()
            np.copyto(result, values, casting="unsafe")
        if slope != 1.0:
            np.multiply(result, _wrapped(slope, self.output), out=result, casting="unsafe")
        if intercept != 0.0:
            np.add(result, _wrapped(intercept, self.output), out=result, casting="unsafe")
        return result

    def _check_fits(self, values: np.ndarray, header: SliceHeader) -> None:
        if not values.size:
            return
        low, high = int(values.min()), int(values.max())
        ends = (header.slope * low + header.intercept, header.slope * high + header.intercept)
        info = np.iinfo(self.output)
        if min(ends) < info.min or max(ends) > info.max:
            raise OutOfRange("%s: values %d..%d do not fit %s" % (
                header.name, int(min(ends)), int(max(ends)), self.mapping.output_dtype))

    def _floats(self, values: np.ndarray, slope: float, intercept: float) -> np.ndarray:
        # Computed in float64 (exact for 32-bit stored values), rounded once to the output.
        if self._float is None:
            self._float = np.empty(self._shape, np.float64)
        np.copyto(self._float, values, casting="unsafe")
        if slope != 1.0:
            self._float *= slope
        if intercept != 0.0:
            self._float += intercept
        result = self._buffer()
        np.copyto(result, self._float, casting="same_kind")
        return result

    def _buffer(self) -> np.ndarray:
        if self._out is None:
            self._out = np.empty(self._shape, self.output)
        return self._out


def _wrapped(number: float, dtype: np.dtype) -> object:
    """``number`` as a value of the integer ``dtype``, modulo its range (see VoxelConverter)."""
    bits = 8 * dtype.itemsize
    value = int(number) % (1 << bits)
    if dtype.kind == "i" and value >= 1 << (bits - 1):
        value -= 1 << bits
    return dtype.type(value)


def background_value(header: SliceHeader, mapping: ValueMapping) -> float:
    """Value for slices filled into a gap: the padding value if the scanner gave one, else the
    lowest value the stored bits can represent (air for CT), rescaled."""
    low, high = stored_range(header.bits_stored, header.pixel_representation == 1)
    stored = header.pixel_padding_value if header.pixel_padding_value is not None else low
    if header.inverted and header.pixel_padding_value is not None:
        stored = low + high - stored  # padding is given in stored values, before the inversion
    value = stored * header.slope + header.intercept
    if not mapping.output_dtype.startswith("float"):
        info = np.iinfo(mapping.output_dtype)
        value = min(max(value, info.min), info.max)
    return value


def padding_range(header: SliceHeader) -> Optional[Tuple[float, float]]:
    """The voxel values that are padding, not data (PixelPaddingValue (0028,0120), up to
    PixelPaddingRangeLimit (0028,0121) when given: PS3.3 C.7.5.1.1.2), rescaled as the voxels are,
    lowest first; None without the tag."""
    if header.pixel_padding_value is None:
        return None
    low, high = stored_range(header.bits_stored, header.pixel_representation == 1)
    ends = [header.pixel_padding_value]
    if header.pixel_padding_range_limit is not None:
        ends.append(header.pixel_padding_range_limit)
    if header.inverted:
        ends = [low + high - stored for stored in ends]
    values = [stored * header.slope + header.intercept for stored in ends]
    return min(values), max(values)


def value_notes(slices: Sequence[SliceHeader]) -> List[str]:
    """Warnings for a core about how its stored values were read where a file asked for more
    than the Modality LUT: MONOCHROME1 inverted, RescaleSlope 0 taken as 1 — both as Slicer's
    reader (GDCM) does, so the volume is the one Slicer shows."""
    notes = []
    for flag, what in (("inverted", "PhotometricInterpretation MONOCHROME1 (0028,0004): stored values inverted "
                                    "(the lowest is white) before the rescale, as Slicer's reader does"),
                       ("zero_slope", "(0028,1053) RescaleSlope is 0: taken as 1, as Slicer's reader does")):
        files = [s.name for s in slices if getattr(s, flag)]
        if files:
            notes.append("%s; in %d file%s: %s" % (what, len(files), "" if len(files) == 1 else "s",
                                                  first_few(files)))
    return notes


def _significant_bits(stored: np.ndarray, header: SliceHeader) -> np.ndarray:
    """Stored values in native byte order with the bits above Bits Stored cleared (unsigned) or
    copies of the sign bit (signed); in place where ``stored`` allows it."""
    if not stored.dtype.isnative:
        stored = stored.astype(stored.dtype.newbyteorder("="))
    elif not stored.flags.writeable:
        stored = stored.copy()
    unused = header.bits_allocated - header.bits_stored
    if unused <= 0:
        return stored
    if header.pixel_representation == 1:
        shift = stored.dtype.type(unused)
        np.left_shift(stored, shift, out=stored)
        np.right_shift(stored, shift, out=stored)  # arithmetic shift sign-extends
        return stored
    np.bitwise_and(stored, stored.dtype.type((1 << header.bits_stored) - 1), out=stored)
    return stored
