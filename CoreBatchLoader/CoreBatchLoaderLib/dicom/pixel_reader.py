"""Stored pixel values of one slice: copied from the file, or decoded when compressed.

Native (uncompressed) transfer syntaxes (PS3.5 A.1–A.3) keep a frame's pixels as one run of
bytes at a known offset: those are read straight into a reused buffer (``readinto``, portable
to Windows where Slicer often runs) and never pass through a DICOM parser.
Encapsulated syntaxes (RLE, JPEG, JPEG-LS, JPEG 2000; PS3.5 A.4) and the deflated syntax are
decoded by pydicom's pixel handlers, one frame at a time.  The JPEG family is decoded by GDCM
(PyPI ``python-gdcm``, a dependency of the engine: the library Slicer's own DICOM reader decodes
with, so the voxels are Slicer's; faster here than pylibjpeg and BSD-licensed, where
pylibjpeg-libjpeg is GPL) — all but 12-bit lossy JPEG, which its wheels cannot decode (the
``jpeg12`` extra adds pylibjpeg for it).  Where a decoder is missing (inside a Slicer that has
not installed it yet) a compressed slice is a one-line error naming the transfer syntax and
what to install.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import time
from typing import BinaryIO, Dict, Optional, Sequence

import numpy as np

from .header_scanner import open_nonblocking, open_regular
from .headers import SliceHeader, transfer_syntax_name


# What pip installs (pyproject.toml lists the same).  python-gdcm 3.2.2 is the last release with
# wheels for Python 3.9 (Slicer 5.4–5.8): there pip would otherwise try to build a newer one from source.
DECODER_REQUIREMENT = "python-gdcm" if sys.version_info >= (3, 10) else "python-gdcm<=3.2.2"
DECODER_MODULE = "gdcm"  # what it imports as
# 12-bit lossy JPEG (JPEG Extended, 1.2.840.10008.1.2.4.51): python-gdcm's wheels are built without
# IJG's 12-bit codec; pydicom then falls back to pylibjpeg's libjpeg (GPL, hence not a default).
JPEG_12_BIT_REQUIREMENTS = ("pylibjpeg", "pylibjpeg-libjpeg")
# A slice no installed package decodes: "<file>: cannot decode <syntax name> (<uid>): " + this
# (whichever Python wrote it: the requirement differs between 3.9 and later).
NO_DECODER = "no decoder installed (pip install %s)" % DECODER_REQUIREMENT
_NO_DECODER_ERROR = re.compile(r"cannot decode .*\(([0-9.]+)\): no decoder installed \(pip install [^()]+\)$")


def decoder_missing() -> bool:
    """True when the JPEG-family decoder is not installed (checked without importing it; also
    right after an install in this process: the import system's folder caches are refreshed)."""
    importlib.invalidate_caches()
    return importlib.util.find_spec(DECODER_MODULE) is None


class PixelDataError(Exception):
    """The pixels of a slice cannot be read or decoded; the message is one line."""


class SliceReader:
    """Reads slices of one core, keeping one file descriptor open per multi-frame file.

    **Read-ahead across files.**  A core is read one file at a time, and between two reads the
    slice is converted and written: the kernel reads ahead within a file but not into the next
    one, so from a cold disk (the common case in a batch over hundreds of GB) the disk idles
    while the CPU works.  Given ``read_order`` (the slices in the order they will be asked for),
    the reader asks the kernel (``posix_fadvise(WILLNEED)``, which returns at once) for the pixel
    data :data:`READ_AHEAD_BYTES` ahead of the slice being read — once a read has shown that
    the data comes from the disk (slower than :data:`CACHED_READ_BYTES_PER_S`): from the page
    cache the advice would only cost its system calls (~12 µs a slice).  Measured on a cold
    2 × 500-slice batch, one worker, conversion alone: 1.18 s → 1.03 s (median of 9).
    """

    def __init__(self, read_order: Sequence[SliceHeader] = ()) -> None:
        self._open: Dict[str, BinaryIO] = {}
        self._decoded: Dict[str, object] = {}
        self._scratch = bytearray()
        self._read_order = [h for h in read_order if h.is_native]
        self._position = 0  # native slices read so far: where the reader is in _read_order
        self._advised = 0  # slices of _read_order already advised (read-ahead on once > 0)

    def __enter__(self) -> "SliceReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for stream in self._open.values():
            stream.close()
        self._open.clear()
        self._decoded.clear()

    def stored(self, header: SliceHeader, stored_dtype: str) -> np.ndarray:
        """The slice's stored values, shape (rows, columns), in ``stored_dtype`` byte order.

        The array is a scratch buffer, valid (and writable) until the next call.
        """
        if header.is_native:
            return self._native(header, stored_dtype)
        return _decoded(header, stored_dtype, self._decoded)

    def _native(self, header: SliceHeader, stored_dtype: str) -> np.ndarray:
        stream = self._open.get(header.path)
        try:
            if stream is None:
                # Unbuffered: one read per slice.  Checked again: a slice swapped for a FIFO or a
                # device since its header was read must not hang the batch or read as zeros.
                stream = open_regular(header.path, buffering=0)
                if header.number_of_frames > 1:
                    self._open[header.path] = stream
            if len(self._scratch) != header.frame_bytes:
                self._scratch = bytearray(header.frame_bytes)
            try:
                # Straight into the reused buffer: no allocation, no page faults per slice.
                stream.seek(header.pixel_offset)  # type: ignore[arg-type]
                started = time.perf_counter()
                count = _read_fully(stream, memoryview(self._scratch))
                self._read_ahead(count, time.perf_counter() - started)
            finally:
                if header.number_of_frames == 1:
                    stream.close()
        except OSError as exc:
            raise _unreadable(header, exc) from None
        if count != header.frame_bytes:
            raise PixelDataError("%s: pixel data truncated (file changed while reading?)" % header.name)
        return np.frombuffer(self._scratch, dtype=stored_dtype).reshape(header.rows, header.columns)


    def _read_ahead(self, count: int, seconds: float) -> None:
        """Keep the disk :data:`READ_AHEAD_BYTES` ahead of this read (see the class docstring)."""
        self._position += 1
        order = self._read_order
        if not order or (self._advised == 0 and count > seconds * CACHED_READ_BYTES_PER_S):
            return
        ahead = max(1, READ_AHEAD_BYTES // max(1, order[0].frame_bytes))
        end = min(len(order), self._position + ahead)
        if end > self._advised:
            advise_will_need(order[max(self._advised, self._position):end])
            self._advised = end


READ_AHEAD_BYTES = 16 << 20  # pixel data asked of the disk ahead of the slice being read
CACHED_READ_BYTES_PER_S = 2e9  # a read slower than this came (at least partly) from the disk


def advise_will_need(headers: Sequence[SliceHeader]) -> None:
    """Ask the kernel to start reading these slices' pixel data, without waiting for it;
    nothing where the platform has no ``posix_fadvise`` (Windows, macOS)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    for header in headers:
        try:
            fd = open_nonblocking(header.path, os.O_RDONLY)
        except OSError:
            continue  # its own read will say what is wrong
        try:
            advise(fd, header.pixel_offset, header.frame_bytes, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _read_fully(stream: BinaryIO, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream`` (a raw read may return less); the count read."""
    done = 0
    while done < len(buffer):
        count = stream.readinto(buffer[done:])  # type: ignore[attr-defined]
        if not count:
            break
        done += count
    return done


def _unreadable(header: SliceHeader, exc: OSError) -> PixelDataError:
    return PixelDataError("%s: cannot read pixel data (%s)" % (header.name, exc.strerror or exc))


def _decoded(header: SliceHeader, stored_dtype: str, cache: Dict[str, object]) -> np.ndarray:
    """Decode one frame with pydicom's pixel handlers.

    The parsed dataset of a multi-frame file is kept (``cache``) so each frame does not parse
    the file again; pydicom ≥ 3 decodes only the requested frame.
    """
    import pydicom
    try:
        from pydicom.pixels import pixel_array
    except ImportError:  # pragma: no cover - pydicom 2 (older Slicer): decode the whole file
        pixel_array = None
    ds = cache.get(header.path)
    if ds is None:
        try:  # as a native slice is opened: a slice swapped for a FIFO would hang pydicom's own open
            stream = open_regular(header.path)
        except OSError as exc:
            raise _unreadable(header, exc) from None
    try:
        if ds is None:
            with stream:
                ds = pydicom.dcmread(stream)
            cache.clear()  # one multi-frame file at a time
            if header.number_of_frames > 1:
                cache[header.path] = ds
        if pixel_array is not None:
            index = header.frame if header.number_of_frames > 1 else None
            array = pixel_array(ds, index=index, raw=True)
        else:  # pragma: no cover
            array = ds.pixel_array
            if header.number_of_frames > 1:
                array = array[header.frame]
    except Exception as exc:
        raise PixelDataError("%s: cannot decode %s: %s" % (
            header.name, transfer_syntax_name(header.transfer_syntax), _decoder_hint(exc))) from None
    array = np.asarray(array)
    if array.shape != (header.rows, header.columns):
        raise PixelDataError("%s: decoded frame has shape %s, expected %d×%d" % (
            header.name, array.shape, header.rows, header.columns))
    return array.astype(np.dtype(stored_dtype).newbyteorder("="), copy=False)


def _decoder_hint(exc: BaseException) -> str:
    """What to do about a slice pydicom could not decode, in a few words."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "12-bit precision" in lowered:  # python-gdcm's wheels lack IJG's 12-bit codec (Slicer's GDCM has it)
        return "12-bit lossy JPEG needs %s (pip install %s)" % (JPEG_12_BIT_REQUIREMENTS[-1],
                                                                " ".join(JPEG_12_BIT_REQUIREMENTS))
    if decoder_missing() and ("plugin" in lowered or "no pixel data decoders" in lowered
                              or "missing required dependencies" in lowered):
        return NO_DECODER
    return text[:200] or type(exc).__name__


def missing_decoder(error: Optional[str]) -> Optional[str]:
    """The transfer syntax UID of a core's error when its slices failed for lack of a decoder
    (the message :func:`_decoded` gives), else None: the Slicer panel offers the decoder only
    for those cores, and reruns just them."""
    match = _NO_DECODER_ERROR.search(error or "")
    return match.group(1) if match else None
