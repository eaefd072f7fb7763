"""A fast reader for the common case: a classic single-frame CT file in little endian.

Scanning hundreds of thousands of slice files is dominated by header parsing, and pydicom's
general reader costs about a millisecond a file.  This scanner walks the data elements of a
Part 10 file (PS3.10 7.1) in Implicit or Explicit VR Little Endian (PS3.5 7.1) with ``struct``,
skips every value it does not need without decoding it, decodes the few it does (VRs DS, IS,
US, SS, UI, CS per PS3.5 6.2) and stops at Pixel Data (7FE0,0010), whose value offset is the
slice's place in the file.

Anything else — no preamble, another transfer syntax, multi-frame, functional groups, an
element it cannot walk — returns ``None`` and the caller uses pydicom, which also produces every
error message.  So this module never decides that a file is bad; it only goes faster on good ones.
"""
from __future__ import annotations

import os
import stat
import struct
from typing import Any, BinaryIO, Dict, Optional, Tuple

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"

# tag → (keyword, how to decode). Only what SliceHeader needs.
_WANTED: Dict[int, Tuple[str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "str"),
    0x00020010: ("TransferSyntaxUID", "str"),
    0x00080008: ("ImageType", "str"),
    0x00080016: ("SOPClassUID", "str"),
    0x00080018: ("SOPInstanceUID", "str"),
    0x00080020: ("StudyDate", "str"),  # the scan's record (.headers.SCAN_TAGS): what labs compare
    0x00080021: ("SeriesDate", "str"),
    0x00080022: ("AcquisitionDate", "str"),
    0x00080070: ("Manufacturer", "text"),
    0x00081090: ("ManufacturerModelName", "text"),
    0x00180060: ("KVP", "reading"),
    0x00181151: ("XRayTubeCurrent", "reading"),
    0x00181152: ("Exposure", "reading"),
    0x00181210: ("ConvolutionKernel", "text"),
    0x00180050: ("SliceThickness", "number"),
    0x00180088: ("SpacingBetweenSlices", "number"),
    0x0020000E: ("SeriesInstanceUID", "str"),
    0x00200011: ("SeriesNumber", "number"),
    0x00200013: ("InstanceNumber", "number"),
    0x00200032: ("ImagePositionPatient", "numbers"),
    0x00200037: ("ImageOrientationPatient", "numbers"),
    0x00280002: ("SamplesPerPixel", "us"),
    0x00280004: ("PhotometricInterpretation", "str"),
    0x00280008: ("NumberOfFrames", "number"),
    0x00280010: ("Rows", "us"),
    0x00280011: ("Columns", "us"),
    0x00280030: ("PixelSpacing", "numbers"),
    0x00280100: ("BitsAllocated", "us"),
    0x00280101: ("BitsStored", "us"),
    0x00280103: ("PixelRepresentation", "us"),
    0x00280120: ("PixelPaddingValue", "us"),
    0x00280121: ("PixelPaddingRangeLimit", "us"),
    0x00281052: ("RescaleIntercept", "number"),
    0x00281053: ("RescaleSlope", "number"),
}
_EXPLICIT = struct.Struct("<HH2sH")  # group, element, VR, 16-bit length
_IMPLICIT = struct.Struct("<HHL")  # group, element, 32-bit length
_LONG = struct.Struct("<L")
_SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN", b"SH",
              b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_PIXEL_DATA = 0x7FE00010
_FUNCTIONAL_GROUPS = 0x52009230
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_FIRST_READ = 8192  # real CT headers: 2–6 KB; a longer one is read again in full


class _Bail(Exception):
    """Not the common case: let pydicom read this file."""


class _NeedMore(Exception):
    """The header runs past the bytes read so far."""


class ScannedHeader(dict):
    """Keyword → decoded value, plus where Pixel Data is; reads like a pydicom Dataset's ``get``."""

    pixel_tell: int = 0
    pixel_length: int = 0
    file_size: int = 0


class NotRegularFile(OSError):
    """A FIFO, device or socket named like a slice: never opened for reading."""


FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
              (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def open_regular(path: str, buffering: int = -1) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file, else raise :class:`NotRegularFile`.

    A FIFO named like a slice blocks ``open()`` (and ``read()``) until someone writes to it, a
    device reads forever: the batch would hang.  So the kind is checked before opening, the open
    is non-blocking (a FIFO swapped in meanwhile cannot block it) and the open file is checked
    again; on a regular file the non-blocking flag changes nothing.

    The file object owns its descriptor from the moment it exists (``open`` with an opener, not
    ``os.fdopen`` of a descriptor closed by hand on failure): a Ctrl-C or SIGTERM raised inside
    ``os.fdopen`` once left the descriptor closed twice, and the ``EBADF`` of the second close
    replaced the interrupt, so a cancelled batch went on as if nothing had happened.
    """
    _require_regular(os.stat(path).st_mode, path)
    stream = open(path, "rb", buffering=buffering, opener=open_nonblocking)
    try:
        _require_regular(os.fstat(stream.fileno()).st_mode, path)
    except BaseException:
        stream.close()
        raise
    return stream


def open_nonblocking(path: str, flags: int) -> int:
    """``os.open`` that cannot block on a FIFO (and is binary on Windows)."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))


def _require_regular(mode: int, path: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in FILE_KINDS if test(mode)), "not a regular file")
        raise NotRegularFile(0, "%s, not a file: left unopened" % kind, path)


def scan_header(path: str) -> Optional[ScannedHeader]:
    """The wanted values of ``path``, or ``None`` when pydicom must read it."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        data = f.read(min(size, _FIRST_READ))
        while True:
            try:
                header = _parse(data)
            except _NeedMore:
                if len(data) >= size:
                    return None  # ends before Pixel Data: let pydicom say what is wrong
                data += f.read(min(size, 2 * len(data)) - len(data))
                continue
            except (_Bail, struct.error, ValueError, UnicodeDecodeError):
                return None
            header.file_size = size
            return header


def _parse(data: bytes) -> ScannedHeader:
    if len(data) < 132 or data[128:132] != b"DICM":
        raise _Bail()
    header = ScannedHeader()
    # File meta information: always explicit VR little endian, group 0002 only.
    position = _walk(data, 132, True, header, stop_group=0x0002)
    syntax = header.get("TransferSyntaxUID")
    if syntax not in (IMPLICIT_LE, EXPLICIT_LE):
        raise _Bail()
    _walk(data, position, syntax == EXPLICIT_LE, header)
    if int(header.get("NumberOfFrames") or 1) != 1:
        raise _Bail()
    return header


def _walk(data: bytes, position: int, explicit: bool, header: ScannedHeader, stop_group: int = 0) -> int:
    """Read elements from ``position``; returns where it stopped (end of group ``stop_group``).

    The hot loop of a header scan: one ``unpack_from`` per element, a set lookup for the VR, a
    dict lookup for the tag; values that are not wanted are skipped by their length.
    """
    end = len(data)
    unpack_explicit, unpack_implicit, unpack_long = _EXPLICIT.unpack_from, _IMPLICIT.unpack_from, _LONG.unpack_from
    wanted_get = _WANTED.get
    while True:
        if position + 8 > end:
            raise _NeedMore()
        if explicit:
            group, element, vr, length = unpack_explicit(data, position)
            if stop_group and group != stop_group:
                return position  # the data set after the file meta may use another encoding
            if vr in _LONG_VRS:
                if position + 12 > end:
                    raise _NeedMore()
                length = unpack_long(data, position + 8)[0]
                value_at = position + 12
            elif vr in _SHORT_VRS:
                value_at = position + 8
            else:
                raise _Bail()
        else:
            group, element, length = unpack_implicit(data, position)
            value_at = position + 8
        tag = (group << 16) | element
        if tag == _PIXEL_DATA:
            if length == _UNDEFINED:
                raise _Bail()  # encapsulated pixel data in a native syntax: pydicom reports it
            header.pixel_tell, header.pixel_length = value_at, length
            return value_at
        if length == _UNDEFINED:
            if tag == _FUNCTIONAL_GROUPS:
                raise _Bail()
            position = _skip_undefined(data, value_at, explicit)
            continue
        position = value_at + length
        wanted = wanted_get(tag)
        if wanted is not None:
            if position > end:
                raise _NeedMore()
            header[wanted[0]] = _decode(data[value_at:position], wanted[1], header)
        elif tag == _FUNCTIONAL_GROUPS:
            raise _Bail()


def _skip_undefined(data: bytes, position: int, explicit: bool) -> int:
    """Skip a sequence of undefined length (items until the Sequence Delimitation Item)."""
    unpack = struct.unpack_from
    while True:
        if position + 8 > len(data):
            raise _NeedMore()
        group, element, length = unpack("<HHL", data, position)
        tag = (group << 16) | element
        position += 8
        if tag == _SEQUENCE_END:
            return position
        if tag != _ITEM:
            raise _Bail()
        if length != _UNDEFINED:
            position += length
            continue
        # An item of undefined length: its elements, until the Item Delimitation Item.
        while True:
            if position + 8 > len(data):
                raise _NeedMore()
            group, element, item_length = unpack("<HHL", data, position)
            if (group << 16) | element == _ITEM_END:
                position += 8
                break
            position = _skip_element(data, position, explicit)


def _skip_element(data: bytes, position: int, explicit: bool) -> int:
    unpack = struct.unpack_from
    if explicit:
        vr = data[position + 4:position + 6]
        if vr in _LONG_VRS:
            length = unpack("<L", data, position + 8)[0]
            value_at = position + 12
        else:
            length = unpack("<H", data, position + 6)[0]
            value_at = position + 8
    else:
        length = unpack("<L", data, position + 4)[0]
        value_at = position + 8
    if length == _UNDEFINED:
        return _skip_undefined(data, value_at, explicit)
    return value_at + length


def _decode(raw: bytes, kind: str, header: ScannedHeader) -> Any:
    if kind == "us":
        if len(raw) != 2:
            raise _Bail()
        value = struct.unpack("<H", raw)[0]
        if header.get("PixelRepresentation") == 1 and value >= 0x8000:
            value -= 0x10000  # PixelPaddingValue and …RangeLimit are SS when pixels are signed
        return value
    if kind == "text":  # LO/SH in the data set's character set: a name, never a reason to bail out
        return raw.decode("latin-1").strip(" \0")
    if kind == "reading":  # a scan setting, for the record: a malformed one is unknown, not a bad file
        try:
            return float(raw.decode("ascii").strip(" \0"))
        except (UnicodeDecodeError, ValueError):
            return None
    text = raw.decode("ascii").strip(" \0")
    if kind == "str":
        return text
    if kind == "number":
        return float(text) if text else None
    return [float(v) for v in text.split("\\")] if text else None
