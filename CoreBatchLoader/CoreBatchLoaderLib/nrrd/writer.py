"""Write NRRD files slice by slice, atomically.

NRRD (http://teem.sourceforge.net/nrrd/format.html) is a text header followed by the raw voxel
array, fastest axis first — for a DICOM slice that is the row of pixels, so each slice's bytes
are appended as they come and memory stays at one slice whatever the volume size.

The header matches what Slicer's own NRRD writer produces (``NRRD0004``,
``space: left-posterior-superior``, ``kinds: domain domain domain``): positions stay in LPS as
DICOM gives them and Slicer turns them into RAS when it loads the file.  Numbers are written
with ``repr`` — the shortest text that reads back to the same double — so depths of millions of
millimetres keep their sub-micrometre digits.

Files are written through :class:`..files.AtomicFile`: a final name never holds a partial file.

``encoding: gzip`` is one plain gzip stream, deflated slice by slice through the streaming
compressor of :mod:`.deflate` (ISA-L when installed, else zlib).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from ..dicom.voxel_values import NRRD_TYPES
from ..files import AtomicFile
from ..messages import printable_line
from .deflate import gzip_compressor

KEY_PREFIX = "corebatchloader_"  # of every NRRD key/value the engine writes
SOURCE_KEY = KEY_PREFIX + "source"  # the core's folder
SERIES_KEY = KEY_PREFIX + "series_uid"


def format_vector(values: Sequence[float]) -> str:
    return "(%s)" % ",".join(repr(float(v)) for v in values)


def key_value_text(value: object) -> str:
    """A key/value's value as a header line holds it: one printable line, runs of white space as
    one space, a folder name's bytes that are not UTF-8 as U+FFFD (:func:`..messages.printable_line`)."""
    return printable_line(str(value))


def provenance_key_values(source: str, series_uid: Optional[str]) -> Dict[str, str]:
    """The key/values naming the folder and series a file was made from, as a header holds them
    (see ``convert.provenance``: a rerun knows its own files by them)."""
    return {SOURCE_KEY: key_value_text(source), SERIES_KEY: key_value_text(series_uid or "")}


def nrrd_header(*, nrrd_type: str, sizes: Tuple[int, int, int],
                space_directions: Sequence[Sequence[float]], space_origin: Sequence[float],
                encoding: str = "raw", data_files: Optional[Sequence[str]] = None,
                byte_skip: Optional[int] = None, line_skip: Optional[int] = None,
                key_values: Optional[Dict[str, str]] = None) -> str:
    """The NRRD header text.

    Without ``data_files`` it ends with the blank line that separates it from the data that
    follows (an attached ``.nrrd``).  With them it is a detached header (``.nhdr``): one file is
    named inline (``data file: NAME``), several are listed after ``data file: LIST``, each then
    holding one slice.  ``byte_skip`` -1 reads each slice from the end of its file;
    ``line_skip`` skips the lines of another header at the start of the data file.
    """
    numbers = [v for d in space_directions for v in d] + list(space_origin)
    if not all(np.isfinite(numbers)):  # a volume placed nowhere: never written, whatever the caller
        raise ValueError("non-finite NRRD geometry: space directions %s, space origin %s"
                         % (list(map(list, space_directions)), list(space_origin)))
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        "type: %s" % nrrd_type,
        "dimension: 3",
        "space: left-posterior-superior",
        "sizes: %d %d %d" % tuple(sizes),
        "space directions: %s" % " ".join(format_vector(d) for d in space_directions),
        "kinds: domain domain domain",
        "endian: little",
        "encoding: %s" % encoding,
        "space origin: %s" % format_vector(space_origin),
    ]
    if byte_skip is not None:
        lines.append("byte skip: %d" % byte_skip)
    for key, value in (key_values or {}).items():
        lines.append("%s:=%s" % (key, key_value_text(value)))
    if line_skip is not None:
        lines.append("line skip: %d" % line_skip)
    if data_files is None:
        return "\n".join(lines) + "\n\n"
    if len(data_files) == 1:
        lines.append("data file: %s" % data_files[0])
    else:
        lines.append("data file: LIST")  # must be the last field: the file names follow
        lines.extend(data_files)
    return "\n".join(lines) + "\n"


class NrrdStreamWriter:
    """Write a single-file NRRD: the header, then slices appended one at a time.

    >>> with NrrdStreamWriter(path, header_fields) as nrrd:   # doctest: +SKIP
    ...     for voxels in slices: nrrd.write_slice(voxels)
    ...     nrrd.commit()
    """

    def __init__(self, final: Path, *, nrrd_type: str, sizes: Tuple[int, int, int],
                 space_directions: Sequence[Sequence[float]], space_origin: Sequence[float],
                 compress: bool = False, durable: bool = True,
                 key_values: Optional[Dict[str, str]] = None) -> None:
        self._atomic = AtomicFile(final, durable=durable)
        self._header = nrrd_header(nrrd_type=nrrd_type, sizes=sizes, space_directions=space_directions,
                                   space_origin=space_origin, encoding="gzip" if compress else "raw",
                                   key_values=key_values)
        self._compressor = gzip_compressor() if compress else None
        self.slices_written = 0
        self.expected_slices = sizes[2]
        self.bytes_written = 0

    def __enter__(self) -> "NrrdStreamWriter":
        self._atomic.__enter__()
        self._atomic.write(self._header.encode("utf-8"))  # key/values may name folders: UTF-8
        return self

    def write_slice(self, voxels: np.ndarray) -> None:
        """Append one slice (rows × columns); converted to little endian if needed."""
        little = voxels.dtype.newbyteorder("<")
        if voxels.dtype != little:  # a big-endian array, or any array on a big-endian machine
            voxels = voxels.astype(little)
        data = memoryview(np.ascontiguousarray(voxels)).cast("B")
        self._atomic.write(data if self._compressor is None else self._compressor.compress(data))
        self.slices_written += 1
        self.bytes_written += data.nbytes

    def commit(self) -> None:
        if self.slices_written != self.expected_slices:
            raise RuntimeError("wrote %d slices of %d" % (self.slices_written, self.expected_slices))
        if self._compressor is not None:
            self._atomic.write(self._compressor.flush())  # the rest of the stream and the gzip trailer
        self._atomic.commit()

    def __exit__(self, *exc: object) -> None:
        self._atomic.__exit__(*exc)


def write_image_2d(final: Path, blocks: Iterable[np.ndarray], size: Tuple[int, int], dtype: np.dtype,
                   spacings: Tuple[float, float], key_values: Optional[Dict[str, str]] = None,
                   durable: bool = True) -> Path:
    """A 2-D picture of values, ``size`` = (columns, rows), as an attached raw NRRD, atomically,
    from ``blocks`` of rows (top first, each blocks × columns of ``dtype``) written as they come:
    the caller never holds the whole picture (the unwrap of a long core).

    ``spacings`` (between columns, between rows) rather than ``space directions``: Slicer's
    reader (ITK) refuses a 2-D image placed in 3-D space, and a picture that is not a plane of
    the scan (an unwrapped core) has no place of its own; the scene places it with a 3-D
    detached header over this file (``line skip``), as it places the cores.
    """
    kind = np.dtype(dtype)
    columns, rows = int(size[0]), int(size[1])
    lines = ["NRRD0004", "type: %s" % NRRD_TYPES[kind.name], "dimension: 2", "sizes: %d %d" % (columns, rows),
             "spacings: %r %r" % (float(spacings[0]), float(spacings[1])), "kinds: domain domain",
             "endian: little", "encoding: raw"]
    lines += ["%s:=%s" % (key, key_value_text(value)) for key, value in (key_values or {}).items()]
    written = 0
    with AtomicFile(final, durable=durable) as atomic:
        atomic.file.write(("\n".join(lines) + "\n\n").encode("utf-8"))
        for block in blocks:
            if block.ndim != 2 or block.shape[1] != columns or block.dtype != kind:
                raise ValueError("%s: a block of %r %s rows in a picture of %d columns of %s"
                                 % (final, block.shape, block.dtype, columns, kind))
            data = np.ascontiguousarray(block, dtype=kind.newbyteorder("<"))
            atomic.file.write(memoryview(data).cast("B"))
            written += block.shape[0]
        if written != rows:
            raise ValueError("%s: %d rows written of %d" % (final, written, rows))
        atomic.commit()
    return Path(final)
