"""The batch's record of every core: ``manifest.json`` (and what resuming needs from it).

One :class:`CoreRecord` per core, the same record whichever route converted it (fast engine or
Slicer's DICOMLib), shown by the CLI, the Slicer panel and the report.  The manifest is
rewritten atomically as folders finish (after each one while that is cheap, see
batch.ManifestPace), so a crash leaves the previous complete version.
A *fingerprint* of each source folder (file names, sizes and modification times: cheap, no
reading) lets a rerun skip cores whose source has not changed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .nrrd_writer import write_text_atomically

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
STATUSES = ("converted", "skipped", "failed")


@dataclass
class CoreRecord:
    """What happened to one core; the keys of ``manifest.json``."""

    name: str
    source: str  # absolute path of the core's folder
    series_uid: Optional[str] = None
    status: str = "failed"
    output: Optional[str] = None  # relative to the output folder
    error: Optional[str] = None  # one line
    warnings: List[str] = field(default_factory=list)
    dimensions: Optional[List[int]] = None  # NRRD sizes: columns, rows, slices
    spacing: Optional[List[float]] = None  # mm along i, j, k
    origin_lps: Optional[List[float]] = None
    directions_lps: Optional[List[List[float]]] = None  # step vectors of i, j, k
    type: Optional[str] = None  # numpy name of the voxel type
    seconds: float = 0.0
    slices: int = 0  # input slices (frames) used
    bytes: int = 0  # size of the voxel data written
    fingerprint: Optional[str] = None
    route: str = "fast"

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CoreRecord":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def one_line(value: object, limit: int = 300) -> str:
    """``value`` (an exception or text) as one line of at most ``limit`` characters, as a record's
    error and every message of a batch must be; an exception without text gives its type."""
    return " ".join(str(value).split())[:limit] or type(value).__name__


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


def write_manifest(output_dir: Path, records: Sequence[CoreRecord], extra: Optional[Dict[str, Any]] = None) -> Path:
    path = Path(output_dir) / MANIFEST_NAME
    document: Dict[str, Any] = {"version": MANIFEST_VERSION}
    document.update(extra or {})
    document["cores"] = [r.to_json() for r in records]
    write_text_atomically(path, json.dumps(document, indent=1) + "\n")
    return path
