"""The batch's record of every core: ``manifest.json`` (and what resuming needs from it).

One :class:`..record.CoreRecord` per core.  The manifest is rewritten atomically as folders
finish (after each one while that is cheap, see :class:`ManifestPace`), so a crash leaves
the previous complete version.
A *fingerprint* of each source folder (file names, sizes and modification times: cheap, no
reading) lets a rerun skip cores whose source has not changed.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..files import (
    ForeignFile,
    compact_ledger,
    record_written,
    start_ledger,
    write_text_atomically,
    written_by_batch,
)
from ..record import CoreRecord

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def folder_fingerprint(folder: str, file_names: Sequence[str], settings: str = "") -> str:
    """Hash of the folder's file names, sizes and modification times (no file is read), and of
    the ``settings`` that shape the output (a rerun with other settings converts again)."""
    digest = hashlib.sha1(settings.encode("utf-8"))
    for name in sorted(file_names):
        try:
            stat = os.stat(os.path.join(folder, name))
        except OSError:
            continue
        digest.update(("%s\0%d\0%d\n" % (name, stat.st_size, stat.st_mtime_ns)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def read_manifest(output_dir: Path) -> List[CoreRecord]:
    """The records of an earlier run, or [] when there is none (or it is unreadable)."""
    path = Path(output_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [CoreRecord.from_json(item) for item in data.get("cores", [])]
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def claim_output_folder(output_dir: Path, own_folders: Sequence[Path], overwrite: bool) -> None:
    """Before a batch writes into ``output_dir``: its ledger of the batch's files is started (it
    covers the subfolders too, see :mod:`..files`) and compacted; a ``manifest.json`` there that
    is not the batch's raises :class:`..files.ForeignFile` (unless ``overwrite``); one a version
    before the ledger wrote (it reads as a manifest) makes the batch claim the files of
    ``own_folders`` as its own.  The caller holds the output lock."""
    start_ledger(output_dir)
    path = Path(output_dir) / MANIFEST_NAME
    if path.exists() and not written_by_batch(path):
        if _reads_as_manifest(path):
            for folder in own_folders:
                for entry in _visible_files(folder):
                    record_written(entry)
        elif not overwrite:
            raise ForeignFile(path)
    compact_ledger(output_dir)


def _reads_as_manifest(path: Path) -> bool:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "version" in document and isinstance(document.get("cores"), list)


def _visible_files(folder: Path) -> List[Path]:
    try:
        return [entry for entry in Path(folder).iterdir() if not entry.name.startswith(".") and entry.is_file()]
    except OSError:
        return []


def write_manifest(output_dir: Path, records: Sequence[CoreRecord], extra: Optional[Dict[str, Any]] = None,
                   durable: bool = True) -> Path:
    path = Path(output_dir) / MANIFEST_NAME
    document: Dict[str, Any] = {"version": MANIFEST_VERSION}
    document.update(extra or {})
    document["cores"] = [r.to_json() for r in records]
    text = json.dumps(strict_json(document), indent=1, allow_nan=False)
    write_text_atomically(path, text + "\n", durable)
    return path


def strict_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None: JSON has no such numbers, and a
    manifest with ``NaN`` in it is no JSON most readers accept (``allow_nan=False`` then holds)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


class ManifestPace:
    """When to rewrite the manifest as folders finish: after every folder while that is cheap,
    else once the run has done ``share`` times the last rewrite's time in other work — so with
    thousands of cores the rewrites stay a small share of the run instead of growing with the
    square of the cores.  A core whose record is not written yet when the run dies is not lost:
    its output names its series, and the rerun takes the file as its own (convert.written_from)."""

    def __init__(self, share: float = 20.0) -> None:
        self.share = share
        self._next = 0.0

    def due(self) -> bool:
        return time.perf_counter() >= self._next

    def wrote(self, seconds: float) -> None:
        self._next = time.perf_counter() + self.share * seconds
