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

**A file the batch did not write is never replaced** (unless the user said ``--overwrite``), and
writers get that for free: every :class:`AtomicFile` commit appends the file's path, size and
modification time to a small ledger (:data:`LEDGER_NAME`: the nearest one in the file's folder
or up to :data:`LEDGER_LEVELS` folders above, so one in the output folder serves its
``thumbnails/``, ``logs/``…; else a new one beside the file), and opening an
``AtomicFile`` over an existing file that the ledger does not describe *exactly as it is now*
raises :class:`ForeignFile` (a ``FileExistsError``, so the usual ``except OSError`` words it in
one line).  The claim is appended *before* the rename too (marked :data:`PENDING`, with the
temporary file's size and time, which the rename keeps), so a ``kill -9`` between the rename and
the claim cannot leave the batch's own file looking like someone else's to the rerun.  How to use
it when adding an output (a log, a LAS file, a picture, a scene file):

- write it with :class:`AtomicFile` or :func:`write_text_atomically`, nothing else;
- let :class:`ForeignFile` surface as that output's warning or error (it names the file);
- nothing to plumb for ``--overwrite``: the batch runs its steps inside
  :func:`foreign_files_replaceable`, which every ``AtomicFile`` consults (pass
  ``replace_foreign=True`` only where ownership was already proven another way).

Cheap by design: only ``os.stat`` calls; a ledger is read once per process, then only its new
lines (appends from several worker processes are whole lines: ``O_APPEND``).
"""
from __future__ import annotations

import errno
import functools
import json
import os
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Iterator, Optional, Set, Tuple

PARTIAL_SUFFIX = ".partial"
LEDGER_NAME = ".corebatchloader-written"  # what AtomicFile wrote, see the docstring
LEDGER_LEVELS = 3  # how far above a file its ledger is looked for
PENDING = "renaming"  # a ledger line's 4th item: the file is about to be renamed to this name
WRITEBACK_CHUNK = 8 << 20  # bytes written between two write-back starts: big requests, little dirty data
SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of the range's dirty pages, do not wait
DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})  # the output takes no more:
# not one file's fault, so the batch stops (convert.OutputFull)


@functools.lru_cache(maxsize=None)
def _sync_file_range() -> Optional[Callable[[int, int, int], int]]:
    """Linux's sync_file_range(2) through ctypes (the os module has no binding), or None.

    Not ``posix_fadvise(DONTNEED)``, which also starts write-back on Linux: it drops the pages
    too, and what reads the volume soon after (Slicer loading it; a thumbnail drawn from the file,
    when no planes were kept while converting) would read it from the disk again."""
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


class ForeignFile(FileExistsError):
    """The final name holds a file this batch did not write: it is left as it is."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.EEXIST, "%s exists and was not written by this batch; use --overwrite to "
                                       "replace it" % Path(path).name, str(path))

    def __str__(self) -> str:  # one line, the file named once
        return str(self.strerror)




_replace_foreign = False  # set by foreign_files_replaceable(); read by every AtomicFile


@contextmanager
def foreign_files_replaceable(replace: bool) -> Iterator[None]:
    """Inside the block, :class:`AtomicFile` replaces files the batch did not write when
    ``replace`` (the batch's ``--overwrite``), and refuses them when not; the batch and each of
    its worker processes run their steps inside one, so no writer has to be told."""
    global _replace_foreign
    previous, _replace_foreign = _replace_foreign, replace
    try:
        yield
    finally:
        _replace_foreign = previous


class _Ledgers:
    """Per process: each folder's ledger as far as it was read: {name: (size, mtime_ns)} of the
    files written, and every (size, mtime_ns) a file was about to be renamed into place with
    (:data:`PENDING`: several, as runs killed one after the other in that window each add one)."""

    def __init__(self) -> None:
        self._read: Dict[str, Tuple[int, int, Dict[str, Tuple[int, int]], Dict[str, Set[Tuple[int, int]]]]] = {}

    def claims(self, folder: str) -> Tuple[Dict[str, Tuple[int, int]], Dict[str, Set[Tuple[int, int]]]]:
        """(written, pending) for ``folder`` (its inode, offset read so far, and both dicts kept)."""
        path = os.path.join(folder, LEDGER_NAME)
        try:
            stream = open(path, "rb")
        except OSError:
            self._read.pop(folder, None)
            return {}, {}
        with stream:
            inode = os.fstat(stream.fileno()).st_ino
            known_inode, offset, entries, pending = self._read.get(folder, (inode, 0, {}, {}))
            if known_inode != inode:  # rewritten (compacted): read again from the start
                offset, entries, pending = 0, {}, {}
            stream.seek(offset)
            data = stream.read()
            whole = data.rfind(b"\n") + 1  # a line being appended right now is read next time
            for line in data[:whole].splitlines():
                try:
                    name, size, mtime_ns, *kind = json.loads(line)
                    if kind == [PENDING]:
                        pending.setdefault(name, set()).add((int(size), int(mtime_ns)))
                    else:
                        entries[name] = (int(size), int(mtime_ns))
                except (ValueError, TypeError):
                    continue  # a damaged line only loses that file's claim
            self._read[folder] = (inode, offset + whole, entries, pending)
            return entries, pending


_ledgers = _Ledgers()


def _identity(stat: os.stat_result) -> Tuple[int, int]:
    return stat.st_size, stat.st_mtime_ns


def ledger_folder(path: Path) -> str:
    """The folder whose ledger covers ``path``: the nearest holding one (the file's own folder, or
    up to :data:`LEDGER_LEVELS` above), else the file's own folder (where a ledger then starts)."""
    own = os.path.dirname(os.path.abspath(path))
    folder = own
    for _ in range(LEDGER_LEVELS + 1):
        if os.path.exists(os.path.join(folder, LEDGER_NAME)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return own


def _key(path: Path, folder: str) -> str:
    return os.path.relpath(os.path.abspath(path), folder).replace(os.sep, "/")


def written_by_batch(path: Path) -> bool:
    """``path`` is a file an :class:`AtomicFile` wrote and nobody changed since (same size and
    modification time as its ledger says)."""
    try:
        identity = _identity(os.stat(path))
    except OSError:
        return False
    folder = ledger_folder(path)
    key = _key(path, folder)
    written, pending = _ledgers.claims(folder)
    return identity == written.get(key) or identity in pending.get(key, ())


def may_replace(path: Path, replace_foreign: Optional[bool] = None) -> bool:
    """Whether a writer may put a file under ``path``: nothing is there, the batch wrote what is
    there, or foreign files may be replaced (``replace_foreign``, default: the current
    :func:`foreign_files_replaceable`)."""
    if replace_foreign is None:
        replace_foreign = _replace_foreign
    return replace_foreign or not os.path.lexists(path) or written_by_batch(path)


def record_written(path: Path) -> None:
    """Claim ``path`` (as it is now) in its ledger: later runs may replace it.  Also for files
    adopted from before the ledger existed (the batch's own, proven by their content)."""
    _claim(path, os.stat(path))


def _claim(path: Path, stat: os.stat_result, *kind: str) -> None:
    folder = ledger_folder(path)
    line = json.dumps([_key(path, folder)] + list(_identity(stat)) + list(kind)) + "\n"
    fd = os.open(os.path.join(folder, LEDGER_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))  # one write: whole lines among workers
    finally:
        os.close(fd)


def start_ledger(folder: Path) -> None:
    """Make ``folder``'s ledger (empty if new) the one for every file written below it."""
    os.close(os.open(os.path.join(folder, LEDGER_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))


def compact_ledger(folder: Path) -> None:
    """Rewrite ``folder``'s ledger with only the claims that still hold (the files exist as they
    were written) once that halves it, so it does not grow with every rerun.  Only while no one
    else writes there (the batch holds the output lock, before its workers start)."""
    ledger = os.path.join(folder, LEDGER_NAME)
    try:
        size = os.path.getsize(ledger)
    except OSError:
        return
    kept = []
    written, pending = _ledgers.claims(os.path.abspath(folder))
    for name in sorted(set(written) | set(pending)):
        try:
            identity = _identity(os.stat(os.path.join(folder, name)))
        except OSError:
            continue
        if identity == written.get(name) or identity in pending.get(name, ()):
            kept.append(json.dumps([name] + list(identity)) + "\n")
    text = "".join(kept).encode("utf-8", "surrogateescape")
    if size < 4096 or len(text) > size // 2:
        return
    temporary = temporary_path(Path(ledger))
    try:
        temporary.write_bytes(text)
        os.replace(temporary, ledger)
    finally:
        if temporary.exists():
            temporary.unlink()


class AtomicFile:
    """A file written under a temporary name and renamed to ``final`` on :meth:`commit`.

    Leaving the ``with`` block without committing (an exception, Ctrl-C) deletes the temporary
    file.  ``durable`` fsyncs before the rename so a power cut cannot leave an empty file
    under the final name; data written through :meth:`write` starts its way to the disk every
    :data:`WRITEBACK_CHUNK` bytes, so that fsync does not stall on the whole file.
    Entering raises :class:`ForeignFile` when ``final`` holds a file the
    batch did not write (see the module docstring; ``replace_foreign`` None follows
    :func:`foreign_files_replaceable`); the commit records the file as the batch's.
    """

    def __init__(self, final: Path, durable: bool = True, replace_foreign: Optional[bool] = None) -> None:
        self.final = Path(final)
        self.temporary = temporary_path(self.final)
        self.durable = durable
        self.replace_foreign = replace_foreign
        self._file: Optional[BinaryIO] = None
        self.committed = False
        self._pending = 0  # bytes passed to write() since write-back was last started
        self._writeback_from = 0  # the first byte whose write-back has not been started

    def __enter__(self) -> "AtomicFile":
        if not may_replace(self.final, self.replace_foreign):
            raise ForeignFile(self.final)
        with self._naming_the_final_file():
            self._file = open(self.temporary, "xb")
        return self

    @contextmanager
    def _naming_the_final_file(self) -> Iterator[None]:
        """An error on the temporary file names the file the user asked for, not ``.x.1f2e.partial``."""
        try:
            yield
        except OSError as exc:
            if exc.filename in (str(self.temporary), self.temporary):
                exc.filename, exc.filename2 = str(self.final), None
            raise

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
        with self._naming_the_final_file():
            self.file.flush()
            if self.durable:
                os.fsync(self.file.fileno())
            self.file.close()
            # claimed before the rename (the renamed file keeps this size and time): a kill -9
            # between the rename and the claim would leave the batch's file looking like someone else's
            _claim(self.final, os.stat(self.temporary), PENDING)
            os.replace(self.temporary, self.final)
        self.committed = True
        record_written(self.final)

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


def write_text_atomically(path: Path, text: str, durable: bool = True,
                          replace_foreign: Optional[bool] = None) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a mix (and
    never a file the batch did not write: :class:`ForeignFile`, see :class:`AtomicFile`)."""
    with AtomicFile(path, durable=durable, replace_foreign=replace_foreign) as atomic:
        atomic.file.write(text.encode("utf-8"))
        atomic.commit()
