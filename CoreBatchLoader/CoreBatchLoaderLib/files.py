"""Files that appear whole or not at all: written under a temporary name, renamed when complete.

Every file the batch writes (volumes, manifest, report, pictures, scene files) goes through
:class:`AtomicFile`: a temporary name in the destination folder (so ``os.replace`` is atomic on
POSIX and Windows), deleted if the writer stops, fsynced before the rename when ``durable``.
The temporary names end with :data:`PARTIAL_SUFFIX`, so a rerun can find and remove the leftovers
of a ``kill -9``.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO, Optional

PARTIAL_SUFFIX = ".partial"


def temporary_path(final: Path) -> Path:
    """A name in the same folder (so the rename is atomic) that no other writer uses."""
    return final.with_name(".%s.%s%s" % (final.name, uuid.uuid4().hex[:8], PARTIAL_SUFFIX))


class AtomicFile:
    """A file written under a temporary name and renamed to ``final`` on :meth:`commit`.

    Leaving the ``with`` block without committing (an exception, Ctrl-C) deletes the temporary
    file.  ``durable`` fsyncs before the rename so a power cut cannot leave an empty file
    under the final name.
    """

    def __init__(self, final: Path, durable: bool = True) -> None:
        self.final = Path(final)
        self.temporary = temporary_path(self.final)
        self.durable = durable
        self._file: Optional[BinaryIO] = None
        self.committed = False

    def __enter__(self) -> "AtomicFile":
        self._file = open(self.temporary, "xb")
        return self

    @property
    def file(self) -> BinaryIO:
        assert self._file is not None
        return self._file

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
