"""Files that appear whole or not at all: written under a temporary name, renamed when complete.

Every file the batch writes (volumes, manifest, report, pictures, scene files) goes through
:class:`AtomicFile`: a temporary name in the destination folder (so ``os.replace`` is atomic on
POSIX and Windows), deleted if the writer stops, fsynced before the rename when ``durable``.
The temporary names end with :data:`PARTIAL_SUFFIX`, so a rerun can find and remove the leftovers
of a ``kill -9``.

Durability without stalls: a large durable file asks the kernel to start writing each chunk out
as soon as it is written (:func:`start_writeback`), so its final fsync finds little left to do
and the disk works while the next slices are read, instead of the whole file being flushed at
the end while nothing else happens.  Renames become durable with their folder's fsync
(:func:`sync_folder`), which the batch does once per step rather than once per file.  Nothing
here fsyncs anything when ``durable`` is false (``--no-fsync``).
"""
from __future__ import annotations

import functools
import os
import sys
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Optional

PARTIAL_SUFFIX = ".partial"
WRITEBACK_CHUNK = 8 << 20  # bytes written between two write-back starts: big requests, little dirty data
SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of the range's dirty pages, do not wait


@functools.lru_cache(maxsize=None)
def _sync_file_range() -> Optional[Callable[[int, int, int], int]]:
    """Linux's sync_file_range(2) through ctypes (the os module has no binding), or None.

    Not ``posix_fadvise(DONTNEED)``, which also starts write-back on Linux: it drops the pages
    too, and the report's thumbnail reads them back right after the conversion."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # a libc without it
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return lambda fd, offset, length: function(fd, offset, length, SYNC_FILE_RANGE_WRITE)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes from ``offset`` of ``fd`` to the disk
    now, without waiting; a no-op where the platform has no such call (the fsync then does it)."""
    sync_file_range = _sync_file_range()
    if sync_file_range is not None:
        sync_file_range(fd, offset, length)  # a failure only means the fsync has more to do


def sync_folder(folder: Path) -> None:
    """fsync a folder, which makes the renames and new files in it durable (POSIX); Windows
    cannot open a folder and commits the rename with the file, so there is nothing to do."""
    try:
        fd = os.open(str(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not fsync folders (EINVAL): nothing more to be had
        pass
    finally:
        os.close(fd)


def temporary_path(final: Path) -> Path:
    """A name in the same folder (so the rename is atomic) that no other writer uses."""
    return final.with_name(".%s.%s%s" % (final.name, uuid.uuid4().hex[:8], PARTIAL_SUFFIX))


class AtomicFile:
    """A file written under a temporary name and renamed to ``final`` on :meth:`commit`.

    Leaving the ``with`` block without committing (an exception, Ctrl-C) deletes the temporary
    file.  ``durable`` fsyncs before the rename so a power cut cannot leave an empty file
    under the final name; data written through :meth:`write` starts its way to the disk every
    :data:`WRITEBACK_CHUNK` bytes, so that fsync does not stall on the whole file.
    """

    def __init__(self, final: Path, durable: bool = True) -> None:
        self.final = Path(final)
        self.temporary = temporary_path(self.final)
        self.durable = durable
        self._file: Optional[BinaryIO] = None
        self.committed = False
        self._pending = 0  # bytes passed to write() since write-back was last started
        self._writeback_from = 0  # the first byte whose write-back has not been started

    def __enter__(self) -> "AtomicFile":
        self._file = open(self.temporary, "xb")
        return self

    @property
    def file(self) -> BinaryIO:
        assert self._file is not None
        return self._file

    def write(self, data: bytes) -> None:
        """Append ``data`` (bytes or a buffer); a durable file starts write-back every chunk."""
        self.file.write(data)
        if not self.durable:
            return
        self._pending += memoryview(data).nbytes
        if self._pending >= WRITEBACK_CHUNK:
            self.file.flush()
            end = self.file.tell()
            start_writeback(self.file.fileno(), self._writeback_from, end - self._writeback_from)
            self._writeback_from, self._pending = end, 0

    def commit(self) -> None:
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.final)
        self.committed = True

    def __exit__(self, *exc: object) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()
            except OSError:  # a full disk cannot flush the rest; the file is discarded anyway
                if self.committed:
                    raise
        if not self.committed:
            try:
                os.unlink(self.temporary)
            except FileNotFoundError:
                pass


def write_text_atomically(path: Path, text: str, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a mix."""
    with AtomicFile(path, durable=durable) as atomic:
        atomic.file.write(text.encode("utf-8"))
        atomic.commit()
