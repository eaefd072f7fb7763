"""Find the cores under an input folder: which folders hold slices, and how they group.

A *core folder* is any folder at or below the input that directly holds files; scanning it reads
every file's header (never pixels), skips what is not an image (non-DICOM files, DICOMDIR,
RTSTRUCT, SR, presentation states…), leaves out, with a warning, the images that are no slices
(scouts: ImageType LOCALIZER; colour screen captures such as dose reports: SamplesPerPixel > 1;
a lone image without position in its own series beside the slices: a protocol page) and groups the image slices into cores: one per
Series Instance UID (0020,000E), split further when a series mixes orientations or image sizes
(Slicer's plugin splits the same way, since such slices cannot share one volume).

Core names come from the folder's path relative to the input ("well7/box3" → "well7_box3"),
made file-name safe and at most 100 characters long (longer ones keep their beginning and a
checksum), with a series suffix only when a folder holds several cores; the same tree always
gives the same names.
"""
from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..messages import first_few, one_line
from .headers import DicomFileError, NotAnImage, SliceHeader, dicom_start, read_slice_headers

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
SYSTEM_FOLDERS = frozenset({"lost+found", "$RECYCLE.BIN", "System Volume Information"})  # a disk's root: no cores
MAX_NAME = 100  # characters of a core's name; its files add a series suffix, ".nrrd", "_proxy.nrrd" or
# a temporary ".<8 hex>.partial" to it, and a file name may have 255 bytes at most


@dataclass(frozen=True)
class CoreFolder:
    """A folder that directly holds files, and the name its cores are given."""

    path: str
    name: str
    files: Tuple[str, ...]  # file names in the folder, sorted
    error: Optional[str] = None  # the folder could not be listed: it fails as a core, with this reason

    @property
    def source(self) -> str:
        """The folder as records and the manifest name it (absolute path)."""
        return os.path.abspath(self.path)


@dataclass
class CoreSeries:
    """The slices of one core, ready for geometry and writing."""

    name: str
    folder: str
    series_uid: str
    slices: List[SliceHeader]
    error: Optional[str] = None  # set when the core cannot be converted (e.g. a truncated slice)
    warnings: List[str] = field(default_factory=list)


@dataclass
class FolderScan:
    """What a folder turned out to hold."""

    folder: CoreFolder
    cores: List[CoreSeries]
    error: Optional[str] = None  # DICOM-looking files but no usable image at all


def safe_name(text: str) -> str:
    """Letters, digits, '.', '_' and '-' only, like Slicer's forceFileNameValidCharacters."""
    name = _UNSAFE.sub("_", text).strip("._")
    return name or "core"


def natural_key(text: str) -> List[object]:
    """Sort "core_2" before "core_10" (depth tables list cores in this order)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def find_core_folders(input_dir: Path, exclude: Sequence[Path] = (),
                      earlier_names: Optional[Mapping[str, Sequence[str]]] = None) -> List[CoreFolder]:
    """Every folder at or below ``input_dir`` that directly holds files, in natural order.

    Hidden folders and files (".name"), the file systems' own folders (:data:`SYSTEM_FOLDERS`,
    which a user cannot read) and the folders in ``exclude`` (the output folder when it lies
    inside the input) are not entered; a folder the walk cannot list is a :class:`CoreFolder`
    with an ``error``, which fails as a core.  Symbolic links to folders are followed (a well is
    often assembled from several disks that way), each real folder once.  ``earlier_names``
    (a folder's path → the core names an earlier run gave it) keeps those names: see
    :func:`stable_names`.
    """
    root = Path(input_dir).resolve()
    excluded = {str(Path(p).resolve()) for p in exclude}
    found: List[Tuple[str, Tuple[str, ...]]] = []
    unlisted: Dict[str, str] = {}  # folders the walk could not list (no permission…) → why

    def cannot_list(error: OSError) -> None:  # never silently dropped: each fails as a core
        if error.filename is not None:
            path = os.fsdecode(error.filename)
            unlisted[path] = "cannot list the folder (%s)" % (error.strerror or error)
            found.append((path, ()))

    seen = set()  # real paths already walked: symlinked folders are followed, loops are not
    for current, dirs, files in os.walk(root, followlinks=True, onerror=cannot_list):
        real = os.path.realpath(current)
        if real in seen or real in excluded:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SYSTEM_FOLDERS
                   and str(Path(current, d)) not in excluded]
        visible = tuple(sorted((f for f in files if not f.startswith(".")), key=natural_key))
        if visible:
            found.append((current, visible))
    found.sort(key=lambda item: natural_key(os.path.relpath(item[0], root)))
    relative = [Path(path).relative_to(root).as_posix() for path, _ in found]
    names = stable_names([_folder_name(root, Path(path)) for path, _ in found], relative,
                         [tuple((earlier_names or {}).get(os.path.abspath(path), ())) for path, _ in found])
    return [CoreFolder(path, name, files, unlisted.get(path)) for (path, files), name in zip(found, names)]


def _folder_name(root: Path, folder: Path) -> str:
    relative = folder.relative_to(root)
    parts = relative.parts or (root.name,)
    return short_name(safe_name("_".join(parts)))


def short_name(name: str, limit: int = MAX_NAME) -> str:
    """``name``, or when it is longer than ``limit`` its beginning and a checksum of the whole
    (stable from run to run, distinct for names that only differ at the end)."""
    if len(name) <= limit:
        return name
    return "%s_%08x" % (name[:limit - 9], zlib.crc32(name.encode("utf-8")))


def stable_names(names: Sequence[str], relative_paths: Sequence[str],
                 earlier: Sequence[Sequence[str]]) -> List[str]:
    """Core folder names that never move: ``names`` made from the folders' paths, where two
    folders would share one (``well7/box3``, ``well7_box3``, ``well7+box3`` are all
    ``well7_box3``) each gets a suffix from its own path (:func:`path_suffix`), never from the
    order in which folders are found; and a folder keeps whatever name an earlier run gave its
    cores (``earlier``: those names), so a folder added later never renames an old core."""
    bare_and_suffixed = [(name, suffixed(name, path_suffix(path))) for name, path in zip(names, relative_paths)]
    chosen: List[Optional[str]] = [None] * len(names)
    for n, (bare, with_suffix) in enumerate(bare_and_suffixed):  # remembered first: they keep their names
        for candidate in (with_suffix, bare):
            if earlier[n] and all(is_core_of(core, candidate) for core in earlier[n]):
                chosen[n] = candidate
                break
    taken = {name.lower() for name in chosen if name is not None}
    counts: Dict[str, int] = {}
    for bare, _ in bare_and_suffixed:
        counts[bare.lower()] = counts.get(bare.lower(), 0) + 1
    for n, (bare, with_suffix) in enumerate(bare_and_suffixed):
        if chosen[n] is None:
            alone = counts[bare.lower()] == 1 and bare.lower() not in taken
            chosen[n] = bare if alone else with_suffix
            taken.add(chosen[n].lower())
    return unique_names([name for name in chosen if name is not None])  # only a checksum collision is left


def path_suffix(relative_path: str) -> str:
    """``_x`` and 8 hex digits of a checksum of the folder's path below the input: the same for the
    folder on every run and every machine (not a digit run, which reads as a series suffix)."""
    return "_x%08x" % zlib.crc32(relative_path.encode("utf-8", "surrogateescape"))


def suffixed(name: str, suffix: str, limit: int = MAX_NAME) -> str:
    return name[:limit - len(suffix)] + suffix


def unique_names(names: Iterable[str]) -> List[str]:
    """Append _2, _3… to repeats, in order, so names stay stable for the same tree."""
    seen: Dict[str, int] = {}
    taken = set()
    result = []
    for name in names:
        candidate = name
        while candidate.lower() in taken:
            seen[name] = seen.get(name, 1) + 1
            candidate = "%s_%d" % (name, seen[name])
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def name_pattern(file_name: str) -> str:
    """``file_name`` with every digit as ``#``: IM0001.dcm and IM0200.dcm share ``IM####.dcm``."""
    return re.sub(r"[0-9]", "#", file_name).lower()


def _named_like_slices(files: List[Tuple[str, str]], groups: List[List[SliceHeader]]) -> List[Tuple[str, str]]:
    """The non-DICOM ``files`` (name, how it looks) named as the slices are: a notes.txt or a
    scanner's log beside the slices is expected, an empty IM0001.dcm among IM0002.dcm… is not."""
    patterns = {name_pattern(s.name) for group in groups for s in group}
    return [item for item in files if name_pattern(item[0]) in patterns]


def scan_folder(folder: CoreFolder) -> FolderScan:
    """Read every file's header in ``folder`` and group the image slices into cores."""
    if folder.error:
        return FolderScan(folder, [], folder.error)
    slices: List[SliceHeader] = []
    unreadable: List[DicomFileError] = []
    not_dicom: List[Tuple[str, str]] = []  # (file name, how it looks)
    for file_name in folder.files:
        path = os.path.join(folder.path, file_name)
        try:
            slices.extend(read_slice_headers(path))
        except NotAnImage as exc:
            if exc.not_dicom:
                not_dicom.append((file_name, exc.not_dicom))
            continue
        except DicomFileError as exc:
            unreadable.append(exc)
        except OSError as exc:  # also a FIFO or device named like a slice: never opened
            unreadable.append(DicomFileError("%s: cannot read (%s)" % (file_name, exc.strerror or exc)))
        except Exception as exc:  # what pydicom raises past the reader's own checks: the file is named
            unreadable.append(DicomFileError("%s: not readable as DICOM (%s)" % (file_name, one_line(exc, 200))))
    left_out: Dict[Tuple[str, str], List[SliceHeader]] = {}  # (what, why) → images that are no core's slices
    slices, copies = _without_copies(slices)
    if copies:
        left_out[("duplicate file", "a copy of an image already in the folder: same SOPInstanceUID and position")] = copies
    kept = []
    for header in slices:
        kind = header.left_out_as
        if kind is None:
            kept.append(header)
        else:
            left_out.setdefault(kind, []).append(header)
    slices = kept
    groups, pages = _without_lone_pages(group_slices(slices))
    if pages:
        left_out[("image without position", "alone in its series beside the slices: a protocol or report page")] = pages
    if not groups:
        error = None
        if unreadable:
            error = "no readable DICOM image in the folder: %s" % _summary(unreadable)
        return FolderScan(folder, [], error)
    folder_warnings = []  # about the folder, so repeated on each of its cores
    odd_name = not_utf8(folder.path)
    if odd_name:
        folder_warnings.append("the folder's name %s is not valid UTF-8 (from another system?): its core is named "
                               "%s, and the folder is shown with \ufffd for the bytes that are not" % (
                                   odd_name, folder.name))
    for (what, why), images in left_out.items():
        folder_warnings.append("left out %d %s%s (%s): %s" % (
            len(images), what, "s" if len(images) > 1 else "", why,
            first_few([s.name for s in images])))
    lost = _named_like_slices(not_dicom, groups)
    if lost:
        folder_warnings.append("%d file%s named like the slices %s no DICOM (a slice lost in a copy?): %s" % (
            len(lost), "" if len(lost) == 1 else "s", "is" if len(lost) == 1 else "are",
            first_few(["%s (%s)" % item for item in lost])))
    series_uids = {g[0].series_uid for g in groups}
    strays = [e for e in unreadable if not e.series_uid or e.series_uid not in series_uids]
    if strays:
        folder_warnings.append("ignored unreadable file%s: %s" % ("s" if len(strays) > 1 else "", _summary(strays)))
    cores = []
    for suffix, group in zip(series_suffixes(groups), groups):
        series_uid = group[0].series_uid
        core = CoreSeries(folder.name + suffix, folder.path, series_uid, group, warnings=list(folder_warnings))
        broken = [e for e in unreadable if e.series_uid == series_uid and series_uid]
        if broken:
            core.error = _summary(broken)
        cores.append(core)
    warn_about_split_parts(cores)
    return FolderScan(folder, cores)


def not_utf8(path: str) -> Optional[str]:
    """The last part of ``path`` with bytes that are not UTF-8 (read by Python as lone
    surrogates) shown as ``\\xff``, or None when the path is valid UTF-8."""
    if _is_utf8(path):
        return None
    parts = [part for part in Path(path).parts if not _is_utf8(part)]
    return os.fsencode(parts[-1] if parts else path).decode("utf-8", "backslashreplace")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def warn_about_split_parts(cores: Sequence[CoreSeries]) -> None:
    """Warn on each core that is part of a series split by image size or orientation, naming
    the other parts and how they differ: the split also renames the core (core_7 → core_7_1),
    so a depth table written for the folder no longer matches, and the user must see why."""
    for core in cores:
        others = [c for c in cores if c is not core and c.series_uid == core.series_uid and core.series_uid]
        if not others:
            continue
        first = core.slices[0]
        parts = []
        for other in others:
            theirs = other.slices[0]
            if (theirs.rows, theirs.columns) != (first.rows, first.columns):
                parts.append("%s (%d slices of %d×%d)" % (other.name, len(other.slices), theirs.rows, theirs.columns))
            else:
                parts.append("%s (%d slices in another orientation)" % (other.name, len(other.slices)))
        core.warnings.append(
            "its series (SeriesInstanceUID %s) was split: these %d slices of %d×%d are this core, the rest "
            "is %s — slices of different sizes or orientations cannot share one volume" % (
                core.series_uid, len(core.slices), first.rows, first.columns, ", ".join(parts)))


def holds_dicom_image(folder: CoreFolder) -> bool:
    """Whether ``folder`` directly holds a DICOM image (or a DICOM file too broken to tell, which
    then fails as a core): a well folder holding only the depth table, photos, a README or a
    DICOMDIR next to its core folders is no core — with depths, it needs no depth row.  Reads
    one header for a core folder (its first DICOM file is a slice).  A folder that cannot be
    listed, or whose files cannot be opened for want of permission, is kept: it fails as a core
    saying so, never vanishes from the batch."""
    if folder.error:
        return True
    denied = False
    for file_name in folder.files:
        path = os.path.join(folder.path, file_name)
        try:
            if dicom_start(path) is None:
                continue
            read_slice_headers(path)
        except PermissionError:
            denied = True
            continue
        except (NotAnImage, OSError):
            continue
        except Exception:
            pass  # too broken to tell: it fails as a core, with its reason
        return True
    return denied


def group_slices(slices: Sequence[SliceHeader]) -> List[List[SliceHeader]]:
    """One group per series, split by orientation and image size; in a stable order.

    A slice without an orientation joins the largest group of its series and size: split off,
    it would make a second, silently partial core; kept in, the geometry check names it.
    """
    groups: Dict[tuple, List[SliceHeader]] = {}
    unoriented: List[SliceHeader] = []
    for header in slices:
        if header.orientation is None:
            unoriented.append(header)
            continue
        orientation = tuple(round(v, 4) for v in header.orientation)
        groups.setdefault((header.series_uid, header.rows, header.columns, orientation), []).append(header)
    for header in unoriented:
        same = [key for key in groups if key[:3] == (header.series_uid, header.rows, header.columns)]
        key = max(same, key=lambda k: len(groups[k])) if same else (
            header.series_uid, header.rows, header.columns, None)
        groups.setdefault(key, []).append(header)
    ordered = sorted(groups.values(), key=lambda g: (
        g[0].series_number if g[0].series_number is not None else -1, g[0].series_uid,
        g[0].rows, g[0].columns, os.path.basename(g[0].path)))
    return ordered


def series_suffixes(groups: Sequence[Sequence[SliceHeader]]) -> List[str]:
    """"" for a lone core; "_s<SeriesNumber>" when series numbers tell groups apart, else "_<n>"."""
    if len(groups) == 1:
        return [""]
    numbers = [g[0].series_number for g in groups]
    if None not in numbers and len(set(numbers)) == len(numbers):
        return ["_s%d" % n for n in numbers]  # type: ignore[str-format]
    return ["_%d" % (n + 1) for n in range(len(groups))]


def _without_copies(slices: List[SliceHeader]) -> Tuple[List[SliceHeader], List[SliceHeader]]:
    """The slices but the later copies of one image (a file copied twice into the folder, as
    "IM0001 (1).dcm"), and those copies.  Slicer's DICOM database keeps one file per
    SOPInstanceUID; here the position and size must match too, so a scanner that repeats UIDs
    on different slices loses nothing."""
    first: Dict[Tuple[str, int], SliceHeader] = {}
    kept, copies = [], []
    for header in slices:
        key = (header.sop_instance_uid, header.frame)
        seen = first.get(key) if header.sop_instance_uid else None
        if seen is not None and seen.position == header.position and seen.file_size == header.file_size:
            copies.append(header)
            continue
        first.setdefault(key, header)
        kept.append(header)
    return kept, copies


def _without_lone_pages(groups: List[List[SliceHeader]]) -> Tuple[List[List[SliceHeader]], List[SliceHeader]]:
    """The groups but those that are one image without ImagePositionPatient beside a series that
    has positions — a protocol or dose page the scanner stored with the slices, in grey (colour
    ones are left out before) — and those images."""
    if len(groups) < 2 or not any(s.position is not None for group in groups for s in group):
        return groups, []
    pages = [group[0] for group in groups if len(group) == 1 and group[0].position is None]
    return [group for group in groups if not (len(group) == 1 and group[0].position is None)], pages


SERIES_SUFFIX = r"_s?\d+"  # what :func:`series_suffixes` appends to a folder's name (a regular expression)


def is_core_of(core_name: str, folder_name: str) -> bool:
    """``core_name`` is what :func:`series_suffixes` makes of a core in the folder ``folder_name``."""
    return re.fullmatch(re.escape(folder_name) + "(%s)?" % SERIES_SUFFIX, core_name) is not None


def _summary(errors: Sequence[DicomFileError], limit: int = 3) -> str:
    text = "; ".join(str(e) for e in errors[:limit])
    if len(errors) > limit:
        text += "; and %d more" % (len(errors) - limit)
    return text
