"""Read single slices and sections of the NRRD files we write, without loading the volume.

NRRD format specification: http://teem.sourceforge.net/nrrd/format.html

The report needs two planes of a core that may be tens of GB: the axial slice ``k`` and the
longitudinal section at row ``j`` (every slice's row ``j``).  Reading the whole volume (as
``nrrd.read`` does) would need the volume's size in memory; this reader fetches only the bytes
of those planes.

- ``raw`` data: a seek and read of exactly the needed slice, or of one row per slice — memory is the
  answer's size.
- ``gzip`` data cannot be seeked, so the stream is decompressed in bounded chunks
  (a ``decompressobj`` of :mod:`.deflate` with ``max_length``) and only the needed byte ranges are kept; reading
  stops after the last needed byte.  Memory is the answer plus one chunk (:data:`CHUNK_BYTES`).

Supported: attached data (``.nrrd``, the header ends at the first blank line) and detached headers
(``.nhdr``) whose ``data file`` is one file name, ``LIST`` (one name per following line), or the
``<format> <min> <max> <step>`` pattern; ``byte skip`` a number or ``-1`` (data at the end of each
raw file); little or big endian; 3-D volumes (``sizes``: columns, rows, slices — fastest axis
first).  Field names are kept verbatim from the header (``space directions``, ``byte skip``...);
anything else (``line skip``, ``bzip2``/``text``/``hex`` encodings) is a clear
:class:`NrrdFormatError` naming the file, never a wrong picture.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .deflate import gzip_decompressor

PathLike = Union[str, "os.PathLike[str]"]

CHUNK_BYTES = 1 << 20  # decompressed bytes held at once while streaming gzip data
READ_BYTES = 1 << 16  # compressed bytes read from the file at once
MAX_HEADER_BYTES = 1 << 20  # a "header" larger than this is not one of ours (or not NRRD)

# NRRD type names (every spelling the spec allows) → numpy type code without byte order.
_TYPE_SPELLINGS = (
    (("signed char", "int8", "int8_t"), "i1"),
    (("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    (("short", "short int", "signed short", "signed short int", "int16", "int16_t"), "i2"),
    (("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), "u2"),
    (("int", "signed int", "int32", "int32_t"), "i4"),
    (("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    (("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64",
      "int64_t"), "i8"),
    (("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"), "u8"),
    (("float",), "f4"),
    (("double",), "f8"),
)
_TYPES = {name: code for names, code in _TYPE_SPELLINGS for name in names}


class NrrdFormatError(ValueError):
    """The file is not an NRRD this reader handles; the message names the file and the field."""


@dataclass(frozen=True)
class NrrdHeader:
    """The header of one NRRD file, fields under their spec names (spaces → underscores).

    ``fields`` holds every field's text verbatim; the typed attributes are parsed from it.
    """

    path: Path
    type: str
    dimension: int
    sizes: Tuple[int, ...]
    encoding: str
    endian: str = "little"
    space_directions: Optional[List[Optional[Tuple[float, ...]]]] = None
    space_origin: Optional[Tuple[float, ...]] = None
    byte_skip: int = 0
    data_file: Optional[str] = None  # the field's text verbatim ("LIST", a name, a pattern)
    data_files: List[Path] = field(default_factory=list)  # resolved; [] = attached data
    data_offset: int = 0  # where attached data starts in ``path``
    fields: Dict[str, str] = field(default_factory=dict)
    key_values: Dict[str, str] = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        """The voxel type with the file's byte order."""
        return np.dtype(_TYPES[self.type]).newbyteorder("<" if self.endian == "little" else ">")

    @property
    def spacing(self) -> Tuple[float, ...]:
        """Length (mm) of each axis' step vector, else its ``spacings`` entry, else 1.0."""
        if self.space_directions is None and "spacings" in self.fields:
            given = [float(v) for v in self.fields["spacings"].split()]
            return tuple(given + [1.0] * (len(self.sizes) - len(given)))
        return tuple(float(np.linalg.norm(d)) if d is not None else 1.0
                     for d in (self.space_directions or [None] * self.dimension))

    @property
    def slice_bytes(self) -> int:
        return self.sizes[0] * self.sizes[1] * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        return self.sizes[0] * self.dtype.itemsize


@dataclass(frozen=True)
class _Piece:
    """One file's share of the data: ``slices`` consecutive slices starting at ``first_slice``."""

    path: Path
    first_slice: int
    slices: int
    offset: int  # file offset of the data (raw), or of the compressed stream (gzip)
    skip: int  # decompressed bytes to drop first (gzip "byte skip")


def read_header(path: PathLike) -> NrrdHeader:
    """Parse the header of ``path`` (``.nrrd`` or ``.nhdr``) without touching the voxel data."""
    path = Path(path)
    with open(path, "rb") as stream:
        magic = stream.readline(64)
        if not magic.startswith(b"NRRD000"):
            raise NrrdFormatError("%s: not an NRRD file (no NRRD000x magic line)" % path)
        fields, key_values, names, data_offset = _read_fields(stream, path)
    try:
        return _build_header(path, fields, key_values, names, data_offset)
    except NrrdFormatError:
        raise
    except (ValueError, OSError) as exc:  # a number that is not one, a listed file that is missing
        raise NrrdFormatError("%s: unreadable header (%s)" % (path, exc)) from None


def _read_fields(stream: BinaryIO, path: Path) -> Tuple[Dict[str, str], Dict[str, str], List[str], int]:
    """Header lines up to the blank line (or end of a detached header) → fields, key/values, LIST."""
    fields: Dict[str, str] = {}
    key_values: Dict[str, str] = {}
    names: List[str] = []
    in_list = False
    while True:
        raw = stream.readline(MAX_HEADER_BYTES)
        if stream.tell() > MAX_HEADER_BYTES:
            raise NrrdFormatError("%s: header longer than %d bytes" % (path, MAX_HEADER_BYTES))
        line = _text(raw).rstrip("\r\n")
        if not raw or not line:
            return fields, key_values, names, stream.tell()
        if in_list:
            names.append(line.strip())
        elif line.startswith("#"):
            continue
        elif ":=" in line:
            key, value = line.split(":=", 1)
            key_values[key] = value
        elif ": " in line:
            name, value = line.split(": ", 1)
            fields[name.strip().lower()] = value.strip()
            in_list = name.strip().lower() in ("data file", "datafile") and value.split()[:1] == ["LIST"]
        else:
            raise NrrdFormatError("%s: header line %r is neither a field nor a key/value" % (path, line))


def _text(raw: bytes) -> str:
    """A header line: UTF-8, as our writer writes file names and key/values that name folders, else
    Latin-1 (any byte is a character: an older writer's bytes still parse)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _build_header(path: Path, fields: Dict[str, str], key_values: Dict[str, str], names: List[str],
                  data_offset: int) -> NrrdHeader:
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in fields:
            raise NrrdFormatError("%s: missing required field %r" % (path, required))
    nrrd_type = fields["type"]
    if nrrd_type not in _TYPES:
        raise NrrdFormatError("%s: type %r is not supported" % (path, nrrd_type))
    encoding = {"gz": "gzip"}.get(fields["encoding"], fields["encoding"])
    if encoding not in ("raw", "gzip"):
        raise NrrdFormatError("%s: encoding %r is not supported (raw, gzip)" % (path, encoding))
    if int(fields.get("line skip", fields.get("lineskip", "0"))) != 0:
        raise NrrdFormatError("%s: 'line skip' is not supported" % path)
    sizes = tuple(int(v) for v in fields["sizes"].split())
    dimension = int(fields["dimension"])
    if dimension == 2 and len(sizes) == 2:  # a picture (an unwrap): one slice of a volume
        sizes += (1,)
    elif dimension != 3 or len(sizes) != 3:
        raise NrrdFormatError("%s: expected a 3-D volume or a 2-D picture, found dimension %d sizes %r"
                              % (path, dimension, sizes))
    byte_skip = int(fields.get("byte skip", fields.get("byteskip", "0")))
    if byte_skip < -1 or (byte_skip == -1 and encoding != "raw"):
        raise NrrdFormatError("%s: 'byte skip: %d' is not valid with encoding %s" % (path, byte_skip, encoding))
    data_file = fields.get("data file", fields.get("datafile"))
    return NrrdHeader(
        path=path, type=nrrd_type, dimension=dimension, sizes=sizes, encoding=encoding,
        endian=fields.get("endian", "little"),
        space_directions=_parse_directions(fields.get("space directions")),
        space_origin=_parse_vector(fields["space origin"]) if "space origin" in fields else None,
        byte_skip=byte_skip, data_file=data_file,
        data_files=_data_files(path, data_file, names), data_offset=data_offset,
        fields=fields, key_values=key_values)


def _parse_vector(text: str) -> Tuple[float, ...]:
    return tuple(float(v) for v in text.strip().strip("()").split(","))


def _parse_directions(text: Optional[str]) -> Optional[List[Optional[Tuple[float, ...]]]]:
    if text is None:
        return None
    return [None if token == "none" else _parse_vector(token) for token in re.findall(r"\([^)]*\)|none", text)]


def _data_files(path: Path, data_file: Optional[str], names: List[str]) -> List[Path]:
    """The files holding the data, relative names resolved against the header's folder."""
    if data_file is None:
        return []
    words = data_file.split()
    if words[0] == "LIST":
        listed = names
    elif len(words) >= 4 and "%" in words[0]:  # <format> <min> <max> <step> [<subdim>]
        first, last, step = int(words[1]), int(words[2]), int(words[3])
        listed = [words[0] % n for n in range(first, last + (1 if step > 0 else -1), step)]
    else:
        listed = [data_file]
    return [Path(name) if os.path.isabs(name) else path.parent / name for name in listed]


def _pieces(header: NrrdHeader) -> List[_Piece]:
    """Where each slice's bytes live: one piece for attached data, one per data file otherwise."""
    slices = header.sizes[2]
    if not header.data_files:
        return [_piece(header, header.path, 0, slices, header.data_offset)]
    count = len(header.data_files)
    if slices % count:
        raise NrrdFormatError("%s: %d data files do not divide %d slices" % (header.path, count, slices))
    per_file = slices // count
    return [_piece(header, name, n * per_file, per_file, 0) for n, name in enumerate(header.data_files)]


def _piece(header: NrrdHeader, path: Path, first: int, slices: int, start: int) -> _Piece:
    needed = slices * header.slice_bytes
    if header.encoding == "gzip":
        return _Piece(path, first, slices, start, header.byte_skip)
    if header.byte_skip == -1:  # the data are the last bytes of the file
        return _Piece(path, first, slices, os.stat(path).st_size - needed, 0)
    return _Piece(path, first, slices, start + header.byte_skip, 0)


def _as_header(source: Union[NrrdHeader, PathLike]) -> NrrdHeader:
    return source if isinstance(source, NrrdHeader) else read_header(source)


def read_slice(source: Union[NrrdHeader, PathLike], k: int) -> np.ndarray:
    """Slice ``k`` (axis 2) as an array of shape (rows, columns) = (sizes[1], sizes[0])."""
    header = _as_header(source)
    columns, rows, slices = header.sizes
    if not 0 <= k < slices:
        raise IndexError("%s: slice %d outside 0..%d" % (header.path, k, slices - 1))
    data = _read_ranges(header, [(k, 0, header.slice_bytes)])
    return _to_array(data, header, (rows, columns))


def read_row_section(source: Union[NrrdHeader, PathLike], j: int) -> np.ndarray:
    """Row ``j`` of every slice: the longitudinal section, shape (slices, columns)."""
    header = _as_header(source)
    columns, rows, slices = header.sizes
    if not 0 <= j < rows:
        raise IndexError("%s: row %d outside 0..%d" % (header.path, j, rows - 1))
    data = _read_ranges(header, [(k, j * header.row_bytes, header.row_bytes) for k in range(slices)])
    return _to_array(data, header, (slices, columns))


def iter_row_section(source: Union[NrrdHeader, PathLike], j: int, block: int = 256) -> Iterator[np.ndarray]:
    """:func:`read_row_section` in blocks of ``block`` slices (each (≤ block, columns)), for a
    long core's section reduced as it is read.  Raw data: a block's rows are all that is held;
    gzip data cannot be seeked, so the section is read in one pass and handed out in blocks."""
    header = _as_header(source)
    columns, rows, slices = header.sizes
    if not 0 <= j < rows:
        raise IndexError("%s: row %d outside 0..%d" % (header.path, j, rows - 1))
    if header.encoding != "raw":
        section = read_row_section(header, j)
        for first in range(0, slices, block):
            yield section[first:first + block]
        return
    for first in range(0, slices, block):
        stop = min(first + block, slices)
        data = _read_ranges(header, [(k, j * header.row_bytes, header.row_bytes) for k in range(first, stop)])
        yield _to_array(data, header, (stop - first, columns))


def read_rows(source: Union[NrrdHeader, PathLike], start: int, stop: int, k: int = 0) -> np.ndarray:
    """Rows ``start`` … ``stop − 1`` of slice ``k``, shape (stop − start, columns): a picture read
    a block of rows at a time (the unwrap of a long core).  Gzip data are decompressed from the
    start on each call."""
    header = _as_header(source)
    columns, rows, slices = header.sizes
    if not (0 <= start <= stop <= rows and 0 <= k < slices):
        raise IndexError("%s: rows %d..%d of slice %d outside %d rows, %d slices" % (
            header.path, start, stop - 1, k, rows, slices))
    data = _read_ranges(header, [(k, start * header.row_bytes, (stop - start) * header.row_bytes)])
    return _to_array(data, header, (stop - start, columns))


def iter_slices(source: Union[NrrdHeader, PathLike]) -> Iterator[np.ndarray]:
    """Every slice in order k = 0, 1, …, each of shape (rows, columns), reading the data once.

    For whole-volume passes (proxies, the well overview): :func:`read_slice` on gzip data
    decompresses from the start each time, so a loop over it is quadratic; this streams each
    file once.  Memory: one slice plus one decompressed chunk.
    """
    header = _as_header(source)
    columns, rows, _ = header.sizes
    size = header.slice_bytes
    for piece in _pieces(header):
        if header.encoding == "raw":
            for n in range(piece.slices):
                data = bytearray(size)
                _pread_ranges(piece, [(n * size, size)], data, 0)
                yield _to_array(data, header, (rows, columns))
            continue
        pending, produced = bytearray(), 0
        to_skip = piece.skip
        for chunk in _gunzip_chunks(piece.path, piece.offset):
            view = memoryview(chunk)
            if to_skip:
                dropped = min(to_skip, len(view))
                view, to_skip = view[dropped:], to_skip - dropped
            pending += view
            while len(pending) >= size and produced < piece.slices:
                yield _to_array(bytearray(pending[:size]), header, (rows, columns))
                del pending[:size]
                produced += 1
            if produced == piece.slices:
                break
        if produced < piece.slices:
            raise NrrdFormatError("%s: compressed data ends early (%d of %d slices)" % (
                piece.path, produced, piece.slices))


def _to_array(data: bytearray, header: NrrdHeader, shape: Tuple[int, int]) -> np.ndarray:
    """Native-endian array over ``data`` (no copy when the file's byte order is the machine's)."""
    array = np.frombuffer(data, dtype=header.dtype).reshape(shape)
    return array if header.dtype.isnative else array.astype(header.dtype.newbyteorder("="))


def _read_ranges(header: NrrdHeader, wanted: Sequence[Tuple[int, int, int]]) -> bytearray:
    """Concatenate the bytes of (slice, offset within the slice, length) ranges, in slice order."""
    out = bytearray(sum(length for _, _, length in wanted))
    position = 0
    for piece in _pieces(header):
        local = [((k - piece.first_slice) * header.slice_bytes + offset, length)
                 for k, offset, length in wanted if piece.first_slice <= k < piece.first_slice + piece.slices]
        if not local:
            continue
        if header.encoding == "raw":
            position = _pread_ranges(piece, local, out, position)
        else:
            position = _gunzip_ranges(piece, local, out, position)
    return out


def _pread_ranges(piece: _Piece, ranges: Sequence[Tuple[int, int]], out: bytearray, position: int) -> int:
    """Read each range straight into ``out`` (seek + readinto, portable): nothing else is read."""
    view = memoryview(out)
    with open(piece.path, "rb", buffering=0) as stream:
        for start, length in ranges:
            stream.seek(piece.offset + start)
            got = 0
            while got < length:
                count = stream.readinto(view[position + got:position + length])
                if not count:
                    raise NrrdFormatError("%s: data ends early (wanted %d bytes at %d, got %d)" % (
                        piece.path, length, piece.offset + start, got))
                got += count
            position += length
    return position


def _gunzip_ranges(piece: _Piece, ranges: Sequence[Tuple[int, int]], out: bytearray, position: int) -> int:
    """Stream-decompress the piece, copying the ranges (ascending) into ``out``; stop after the last."""
    ranges = [(piece.skip + start, length) for start, length in ranges]
    index, filled, stream_at = 0, 0, 0  # range being filled, bytes of it done, offset of the chunk
    for chunk in _gunzip_chunks(piece.path, piece.offset):
        view, chunk_end = memoryview(chunk), stream_at + len(chunk)
        while index < len(ranges):
            start, length = ranges[index]
            begin = start + filled
            if begin >= chunk_end:
                break
            take = min(start + length, chunk_end) - begin
            out[position:position + take] = view[begin - stream_at:begin - stream_at + take]
            position, filled = position + take, filled + take
            if filled < length:
                break  # the range continues in the next chunk
            index, filled = index + 1, 0
        stream_at = chunk_end
        if index == len(ranges):
            return position
    raise NrrdFormatError("%s: compressed data ends early (wanted %d more bytes)" % (
        piece.path, sum(length for _, length in ranges[index:]) - filled))


def _gunzip_chunks(path: Path, offset: int) -> Iterator[bytes]:
    """Decompressed data from ``offset`` on, at most :data:`CHUNK_BYTES` at a time.

    ``max_length`` bounds each output even for data that compresses 1000:1 (air); consecutive
    gzip members are followed, as ``gzip`` readers do; bytes after the last member that do not
    start another member (padding) end the data.
    """
    with open(path, "rb") as stream:
        stream.seek(offset)
        inflater, errors = gzip_decompressor()  # gzip or zlib header, detected
        pending, file_done = b"", False
        while True:
            if not pending and not file_done:
                pending = stream.read(READ_BYTES)
                file_done = not pending
            try:
                chunk = inflater.decompress(pending, CHUNK_BYTES)
            except errors as exc:
                raise NrrdFormatError("%s: corrupt compressed data (%s)" % (path, exc)) from None
            pending = inflater.unconsumed_tail
            if inflater.eof:
                pending = inflater.unused_data + (b"" if file_done else stream.read(2))
                if not pending.startswith(b"\x1f\x8b"):
                    pending, file_done = b"", True
                inflater, errors = gzip_decompressor()
            if chunk:
                yield chunk
            elif file_done and not pending:
                return
