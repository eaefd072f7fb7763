"""Run the whole job: every core folder under the input → NRRD files + manifest.

The unit of work is a *core folder* (:func:`process_folder`): scan its headers, convert its
cores.  Folders run in this process, in worker processes, or on a Dask cluster — the same pure
function everywhere, so the output does not depend on where it ran.  Results stream into the
manifest as folders finish (paced: see :class:`.manifest.ManifestPace`); a folder whose fingerprint
matches the previous manifest and whose outputs exist is skipped without reading a header.  One
bad folder costs one failed record.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import (TYPE_CHECKING, Callable, Collection, Dict, Generator, Iterator, List, Mapping, Optional, Sequence,
                    Tuple)

from ..analysis.slices import CoreInterval
from ..convert import (
    OUTPUT_FORMATS,
    ConvertOptions,
    OutputFull,
    convert_core,
    core_record,
    output_file_name,
    written_from,
)
from ..dicom.discover import (
    CoreFolder,
    CoreSeries,
    find_core_folders,
    holds_dicom_image,
    is_core_of,
    scan_folder,
)
from ..dicom.headers import dicom_start
from ..files import (
    DISK_FULL,
    ForeignFile,
    foreign_files_replaceable,
    record_written,
    sync_folder,
    written_by_batch,
)
from ..messages import one_line
from ..record import CoreRecord
from ..well.options import SceneOptions
from .lifetime import STOP_SIGNALS, WORKER_BLOCKED_SIGNALS, die_with_parent, raise_if_stop_was_lost
from .manifest import (MANIFEST_NAME, ManifestPace, claim_output_folder, folder_fingerprint, read_manifest,
                       write_manifest)
from .moved import redo_moved
from .outputs import (RESUME, disk_full_stop, folders_that_are_files, outputs_changed, own_folders, remove_leftovers,
                      remove_stale_partials)
from .well_records import add_depths, scan_warnings, warn_about_split_series

if TYPE_CHECKING:
    from ..well.depths import CoreDepth
    from ..planes.well import WellPlanes
    from .well_steps import WellResult

LOCK_NAME = ".corebatchloader.lock"


class UsageError(Exception):
    """The command cannot start (missing input, output is a file, folder locked…)."""




@dataclass(frozen=True)
class BatchOptions:
    convert: ConvertOptions = ConvertOptions()
    overwrite: bool = False
    workers: int = 1  # processes on this machine; 1 = in this process
    scheduler: Optional[str] = None  # Dask scheduler address: run on that cluster instead
    report: bool = True  # report.html, manifest.csv and thumbnails at the end
    scene: SceneOptions = SceneOptions()  # depths and the whole-well scene (.well_steps)
    planes: bool = False  # pick each core's planes from its unwrap after converting (.planes_step)


@dataclass(frozen=True)
class FolderJob:
    """Everything a worker needs for one folder (picklable, paths as text)."""

    folder: CoreFolder
    output_dir: str
    options: ConvertOptions
    overwrite: bool
    fingerprint: str
    previous: Sequence[CoreRecord] = ()
    thumbnails: bool = True  # draw each converted core's report picture in the worker
    depths: Tuple[Tuple[str, CoreInterval], ...] = ()  # the folder's cores in the well, when known


@dataclass
class Progress:
    """Sent to the progress callback after each folder."""

    folders_done: int
    folders_total: int
    cores_done: int
    failed: int
    bytes_done: int
    records: List[CoreRecord]  # the records of the folder that just finished
    elapsed: float


ProgressCallback = Callable[[Progress], Optional[bool]]  # returning True cancels the batch
StageCallback = Callable[[str, str], None]
"""Told (step, what it does) when a step after the last core folder starts — "well", "planes",
"report": they run for seconds after the progress reaches 100 %, and must not look like a hang."""


@dataclass
class BatchResult:
    records: List[CoreRecord] = field(default_factory=list)
    cancelled: bool = False
    stopped: Optional[str] = None  # why the batch stopped early: the output took no more (disk full)
    folders: int = 0  # folders with files that were looked at
    manifest: Optional[Path] = None
    report: Optional[Path] = None
    well: Optional[WellResult] = None  # with depths: the scene, or why it was not written
    not_written: List[str] = field(default_factory=list)  # outputs left out: a foreign file holds the name
    warnings: List[str] = field(default_factory=list)  # about the batch's outputs, not one core
    planes: Optional["WellPlanes"] = None  # with --planes: each core's planes (.planes_step)
    converting_seconds: Optional[float] = None  # until the last core folder finished (the throughput's time)

    @property
    def failed(self) -> List[CoreRecord]:
        return [r for r in self.records if r.status == "failed"]

    def unwrap_files(self) -> Dict[str, Path]:
        """Core name → its unwrapped surface ``unwrap/<core>_unwrap.nrrd`` (the PNG lies beside
        it), and ``"well"`` → ``well_unwrap.png`` when the well was placed at depth."""
        if self.manifest is None:
            return {}
        files = {r.name: Path(self.manifest).parent / r.unwrap for r in self.records if r.unwrap}
        if self.well is not None and self.well.unwrap_strip is not None:
            files["well"] = self.well.unwrap_strip
        return files

    @property
    def exit_code(self) -> int:
        if self.cancelled:
            return 130
        if not self.records:
            return 1  # nothing to convert: most likely the wrong INPUT, which a script must notice
        return 1 if (self.stopped or self.failed or self.not_written
                     or (self.well is not None and (self.well.error or self.well.unplaced))) else 0


CoreConverter = Callable[[CoreSeries, Path, ConvertOptions], CoreRecord]
"""Turns one core into its output file and record: the engine's :func:`convert_core`, or another
route (Slicer's DICOMLib, in the module) that then shares discovery, naming, resuming, locking,
the manifest and the report."""


def process_folder(job: FolderJob, converter: CoreConverter = convert_core) -> List[CoreRecord]:
    """Scan one folder and convert its cores (or reuse the previous run's results); files the
    batch did not write are replaced only with ``--overwrite`` (:mod:`..files`)."""
    with foreign_files_replaceable(job.overwrite):
        return _convert_folder(job, converter)


def _convert_folder(job: FolderJob, converter: CoreConverter) -> List[CoreRecord]:
    reused, damaged = _reusable(job)
    if reused is not None:
        return reused
    records = _scan_and_convert(job, converter)
    if damaged:
        for record in records:
            record.warnings.insert(0, damaged)
    return records


def _scan_and_convert(job: FolderJob, converter: CoreConverter) -> List[CoreRecord]:
    try:
        scan = scan_folder(job.folder)
    except Exception as exc:  # an unexpected failure must not take the batch down
        return [_folder_failure(job, "scan failed: %s" % one_line(exc))]
    if scan.error:
        return [_folder_failure(job, scan.error)]
    records = []
    depths = dict(job.depths)
    for core in scan.cores:
        depth = depths.get(core.name)
        existing = [Path(job.output_dir) / output_file_name(core.name, f) for f in OUTPUT_FORMATS]
        target = next((p for p in existing if p.exists()), existing[0])
        if target.exists() and not job.overwrite and not _ours(job, core, target):
            record = core_record(core, error="output %s exists and was not written by this batch from this "
                                             "source; use --overwrite to replace it" % target.name)
        else:
            # the worker draws the core's picture next: its planes are kept while converting
            options = replace(job.options, long_section=job.thumbnails)
            options = replace(options, depth=depth) if depth is not None else options
            try:
                record = converter(core, Path(job.output_dir), options)
            except OutputFull as exc:  # not this core's fault: the batch stops, with what is written
                raise OutputFull(str(exc), records + exc.written) from None
            except Exception as exc:  # a bug must cost one core, not the batch
                record = core_record(core, error="internal error: %s" % one_line(exc))
        record.fingerprint = job.fingerprint
        if job.thumbnails and record.status == "converted":
            from ..report.page import draw_thumbnail  # never raises: a picture is not worth a core
            draw_thumbnail(Path(job.output_dir), record, top_last=depth is not None and depth.flip,
                           top_m=depth.top_m if depth is not None else None)
        record.kept_section = None  # drawn: not carried back to the batch (a worker may be another process)
        records.append(record)
    return records


def _previous_records(previous: Mapping[str, List[CoreRecord]], folders: Sequence[CoreFolder],
                      fingerprints: Sequence[str]) -> List[tuple]:
    """Each folder's records from the previous run: found by the folder's path or, when the input
    has moved (another mount point or drive letter) and that path is gone from the input, by the
    folder's fingerprint — the same file names, sizes and modification times are the same data —
    and its name, so a rerun from the new place resumes instead of converting everything again.
    Not for ``.nhdr`` outputs: they name the DICOM files at their old place, so they are redone."""
    paths = {folder.source for folder in folders}
    moved = {records[0].fingerprint: records for source, records in previous.items()
             if source not in paths and records and records[0].fingerprint
             and not any((r.output or "").endswith(".nhdr") for r in records)}
    found = []
    for folder, fingerprint in zip(folders, fingerprints):
        records = previous.get(folder.source)
        if records is None:
            candidates = moved.get(fingerprint, [])
            if candidates and all(is_core_of(r.name, folder.name) for r in candidates):
                records = candidates
        found.append(tuple(records or ()))
    return found


def _reusable(job: FolderJob) -> Tuple[Optional[List[CoreRecord]], Optional[str]]:
    """(the previous records, None) if the folder is unchanged and every output is still there
    and still what the batch wrote; else (None, why the folder is converted again when an output
    was damaged since: the warning its new records carry)."""
    if job.overwrite or not job.previous:
        return None, None
    previous = list(job.previous)
    if any(r.fingerprint != job.fingerprint or r.status not in ("converted", "skipped") for r in previous):
        return None, None
    outputs = [Path(job.output_dir) / name for r in previous for name in (r.output, r.unwrap) if name]
    if any(not r.output for r in previous) or not all(path.exists() for path in outputs):
        return None, None  # the unwrap is measured while converting: a lost one means converting again
    changed = outputs_changed(outputs)
    if changed:
        return None, "converted again: %s" % changed
    try:  # moved, not flipped (the fingerprint has the flips): what states its depth is redone
        redo_moved(Path(job.output_dir), previous, dict(job.depths), job.options.durable, job.thumbnails)
    except (OSError, ValueError):
        return None, None  # an unwrap that cannot be restamped is made again
    # the folder's path now, when the input has moved
    return [replace(r, status="skipped", seconds=0.0, source=job.folder.source) for r in previous], None


def _ours(job: FolderJob, core: CoreSeries, target: Path) -> bool:
    """The existing output ``target`` was written by an earlier run of this batch from ``core``:
    the previous records say so or, when a run stopped between the file and the manifest,
    the file's own header does."""
    if written_by_batch(target):
        return any(r.name == core.name for r in job.previous) or written_from(target, core)
    if (any(r.name == core.name and r.source == job.folder.source for r in job.previous)
            or written_from(target, core)):
        record_written(target)  # from a version before the ledger: proven ours, claimed now
        return True
    return False


def _folder_failure(job: FolderJob, error: str) -> CoreRecord:
    return CoreRecord(name=job.folder.name, source=job.folder.source, status="failed",
                      error=error, fingerprint=job.fingerprint)


def prepare_output(input_dir: Path, output_dir: Path) -> None:
    if not input_dir.exists():
        raise UsageError("input folder %s does not exist" % input_dir)
    if not input_dir.is_dir():
        raise UsageError("input %s is not a folder" % input_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError("output %s exists and is not a folder" % output_dir)
    if output_dir == input_dir:
        raise UsageError("the output folder is the input folder %s; inputs are never written to: choose "
                         "another folder (a new subfolder of the input is fine)" % input_dir)
    if input_dir in output_dir.parents and _holds_dicom(output_dir):
        raise UsageError("the output folder %s holds DICOM files of the input (a core folder?); choose an "
                         "empty or new folder" % output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("cannot create output folder %s (%s)" % (output_dir, exc.strerror or exc)) from None


def _holds_dicom(folder: Path, sample: int = 20) -> bool:
    """Some of the first ``sample`` visible files directly in ``folder`` are DICOM."""
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))[:sample]
    except OSError:
        return False
    for name in names:
        try:
            if (folder / name).is_file() and dicom_start(str(folder / name)) is not None:
                return True
        except OSError:
            continue
    return False


class OutputLock:
    """An exclusive lock on the output folder, so two runs cannot interleave their writes."""

    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / LOCK_NAME
        self._fd: Optional[int] = None

    def __enter__(self) -> "OutputLock":
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only folder or file system, no permission
            raise UsageError("cannot write in the output folder %s (%s)" % (
                self.path.parent, exc.strerror or exc)) from None
        try:
            _lock_exclusively(self._fd)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
                raise UsageError("output folder %s is in use by another corebatchloader run "
                                 "(lock %s)" % (self.path.parent, self.path.name)) from None
            raise
        os.ftruncate(self._fd, 0)
        os.write(self._fd, ("%d\n" % os.getpid()).encode())  # who holds it, for people
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock


def _lock_exclusively(fd: int) -> None:
    """Non-blocking exclusive lock: flock on POSIX, msvcrt on Windows (Slicer runs there too)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def run_batch(input_dir: Path, output_dir: Path, options: BatchOptions = BatchOptions(),
              progress: Optional[ProgressCallback] = None,
              converter: Optional[CoreConverter] = None, stage: Optional[StageCallback] = None) -> BatchResult:
    """Convert every core under ``input_dir`` into ``output_dir``; see the module docstring.

    ``converter`` replaces the engine for each core (it then runs in this process, one folder
    at a time).  ``stage`` is told when each step after the conversion starts (the well, the
    planes, the report).  Raises :class:`UsageError` before doing anything when the folders are
    unusable.
    """
    stage = stage or (lambda step, what: None)
    input_dir, output_dir = Path(input_dir).resolve(), Path(output_dir).resolve()
    prepare_output(input_dir, output_dir)
    result = BatchResult()
    with OutputLock(output_dir), foreign_files_replaceable(options.overwrite):
        remove_stale_partials(output_dir)
        result.warnings.extend(folders_that_are_files(output_dir))
        try:
            claim_output_folder(output_dir, own_folders(output_dir), options.overwrite)
        except ForeignFile as exc:
            raise UsageError("%s in the output folder %s; or choose another folder" % (exc, output_dir)) from None
        previous: Dict[str, List[CoreRecord]] = {}
        for record in read_manifest(output_dir):
            previous.setdefault(record.source, []).append(record)
        folders = find_core_folders(input_dir, exclude=[output_dir], earlier_names={  # names never move
            source: [r.name for r in records] for source, records in previous.items()})
        result.folders = len(folders)
        folders = [folder for folder in folders if holds_dicom_image(folder)]  # depth tables name only these
        depths: Mapping[str, "CoreDepth"] = {}
        if options.scene != SceneOptions():  # depths asked for: only then import the scene's code
            from .well_steps import SceneSetupError, check_options
            try:  # a bad depth table or a missing slicer-core must cost nothing: check before converting
                depths = check_options(options.scene, folders)
            except SceneSetupError as exc:
                raise UsageError(str(exc)) from None
        intervals = [tuple((name, CoreInterval(d.top_m, d.bottom_m, d.flip)) for name, d in sorted(depths.items())
                           if d.folder_name == folder.name) for folder in folders]
        # the unwrap and thumbnail run top first: another flip converts the core again; another
        # interval only moves it (a depth match applied: .moved, then the well's steps), no DICOM read
        fingerprints = [folder_fingerprint(folder.path, folder.files, _settings(options.convert) + (
                            " flipped=%r" % sorted(name for name, i in cores if i.flip) if any(i.flip for _, i in cores)
                            else "")) for folder, cores in zip(folders, intervals)]
        earlier = _previous_records(previous, folders, fingerprints)
        jobs = [FolderJob(folder, str(output_dir), options.convert, options.overwrite, fingerprint,
                          records, options.report, folder_intervals)
                for folder, fingerprint, records, folder_intervals in zip(folders, fingerprints, earlier, intervals)]
        by_folder: Dict[int, List[CoreRecord]] = {}
        started = time.perf_counter()
        done = cores = failed = size = 0

        def ordered_records() -> List[CoreRecord]:
            return [r for n in sorted(by_folder) for r in by_folder[n]]

        def manifest_records() -> List[CoreRecord]:
            """This run's records and, for folders it has not reached (yet), the previous run's:
            an interrupted rerun must not forget what an earlier run converted, or the next run
            would take those outputs for someone else's files instead of resuming from them."""
            return [r for n, job in enumerate(jobs) for r in by_folder.get(n, job.previous)]

        pace = ManifestPace()
        try:
            for index, records in _run_jobs(jobs, options, converter):
                add_depths(records, depths)
                by_folder[index] = records
                done += 1
                cores += len(records)
                failed += sum(r.status == "failed" for r in records)
                size += sum(r.bytes for r in records if r.status == "converted")
                if pace.due():
                    began = time.perf_counter()
                    _save_manifest(result, output_dir, manifest_records(), options.convert.durable)
                    pace.wrote(time.perf_counter() - began)
                if result.stopped:
                    break
                raise_if_stop_was_lost()
                result.converting_seconds = time.perf_counter() - started
                if progress is not None and progress(Progress(done, len(jobs), cores, failed, size, records,
                                                              result.converting_seconds)):
                    result.cancelled = True
                    break
            warn_about_split_series(ordered_records())
        except KeyboardInterrupt:
            result.cancelled = True
        except OutputFull as exc:
            result.stopped = "%s; %s" % (exc, RESUME)
        finally:
            result.records = ordered_records()
            _save_manifest(result, output_dir, manifest_records(), options.convert.durable, last=True)
            remove_stale_partials(output_dir)
        result.warnings.extend(scan_warnings(result.records))
        if depths and not result.cancelled and not result.stopped:
            from .well_steps import finish_well, well_steps_text
            stage("well", well_steps_text(options.scene, options.convert.ct_log,
                                          sum(r.name in depths for r in result.records)))
            try:
                result.well = finish_well(output_dir, result.records, depths, options.scene, input_dir.name,
                                          options.convert.durable, options.convert.ct_log,
                                          {folder.source: folder.name for folder in folders})
            except OSError as exc:  # the disk filled while the well's log or scene was written
                if exc.errno not in DISK_FULL:
                    raise
                result.stopped = disk_full_stop("the well's CT log and scene", exc)
            if result.well is not None:  # the records gained depth-length warnings
                if result.well.log is not None:
                    result.not_written.extend(result.well.log.not_written)
                _save_manifest(result, output_dir, result.records, options.convert.durable)
        if options.planes and not result.cancelled and not result.stopped:
            from .planes_step import run_planes
            stage("planes", "planes: picking beds and fractures on each core's unwrap…")
            try:
                result.planes = run_planes(output_dir, result.records, options.convert.durable)
            except ForeignFile as exc:
                result.not_written.append("planes not written: %s" % exc)
        if not result.cancelled and not result.stopped:  # what the last run wrote and this one did not make
            remove_leftovers(output_dir, result.records, result.well, planes=result.planes is not None)
        if options.report and not result.cancelled:
            stage("report", "report: pictures, manifest.csv and report.html…")
            result.report = _report(result, output_dir, time.perf_counter() - started, result.well,
                                    options.convert.durable,  # the flipped cores: their pictures top last
                                    {name for cores in intervals for name, i in cores if i.flip},
                                    {name: i.top_m for cores in intervals for name, i in cores})
    return result


def _save_manifest(result: BatchResult, output_dir: Path, records: List[CoreRecord], durable: bool,
                   last: bool = False) -> None:
    """Write the manifest; an output folder that takes no more writes (full disk, gone) stops the
    batch with ``result.stopped`` saying why, and the previous manifest stays, complete.

    ``durable``: the manifest is fsynced, then the output folder, which makes every output
    renamed into it so far durable with it — one folder fsync per manifest, not per file.  The
    subfolders (CT logs, unwraps…) once, with the ``last`` manifest of the conversion: a rerun
    redoes a core whose log or unwrap a crash lost."""
    try:
        if durable and last:
            for folder in own_folders(output_dir)[1:]:
                sync_folder(folder)
        result.manifest = write_manifest(output_dir, records, durable=durable)
        if durable:
            sync_folder(output_dir)
    except OSError as exc:
        result.stopped = result.stopped or (disk_full_stop(MANIFEST_NAME, exc) if exc.errno in DISK_FULL else
                                            "cannot write %s in %s (%s)" % (MANIFEST_NAME, output_dir,
                                                                            exc.strerror or exc))


def _settings(options: ConvertOptions) -> str:
    """The options that change what a core's output file holds (not how it is written)."""
    settings = "compress=%s gap=%s format=%s" % (options.compress, options.gap_policy, options.output_format)
    if options.ct_log:  # the log is measured while converting: another threshold means converting again
        settings += " ctlog void=%g" % options.void_threshold_hu
    if options.core_min_hu is not None or options.core_max_hu is not None:  # the section's CT range
        settings += " core=%r..%r" % (options.core_min_hu, options.core_max_hu)
    if options.unwrap_radius:  # so is the unwrap: another radius means converting again
        settings += " unwrap=%s" % options.unwrap_radius
    return settings


def _report(result: BatchResult, output_dir: Path, elapsed: float, well: Optional["WellResult"] = None,
            durable: bool = True, flipped: Collection[str] = (), tops: Optional[Mapping[str, float]] = None
            ) -> Optional[Path]:
    """report.html + manifest.csv; a failure here must not turn a good batch into a crash, and
    someone else's file under their names is left as it is (``result.not_written``)."""
    from ..report.correlation_svg import correlation_picture  # imported here: the report's code is not
    from ..report.page import write_report  # needed by workers
    try:
        report = write_report(output_dir, result.records, elapsed_seconds=elapsed,
                              converting_seconds=result.converting_seconds,
                              well_strip=well.strip if well else None,
                              well_unwrap=well.unwrap_strip if well else None, stopped=result.stopped,
                              durable=durable, log_track=well.log.track if well and well.log else None,
                              top_last=flipped, tops=tops, warnings=list(result.warnings), notes=result.warnings,
                              planes_track=result.planes.track if result.planes else None,
                              correlation=correlation_picture(output_dir))
        if durable:
            sync_folder(output_dir)
        return report
    except ForeignFile as exc:
        result.not_written.append("report not written: %s" % exc)
        return None
    except Exception as exc:  # a failing report must not turn a good batch into a crash
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # the same stop as at every other step
            result.stopped = result.stopped or disk_full_stop("report.html and manifest.csv", exc)
            return None
        print("corebatchloader: report not written: %s" % one_line(exc), file=sys.stderr)
        return None


def _run_jobs(jobs: Sequence[FolderJob], options: BatchOptions,
              converter: Optional[CoreConverter] = None) -> Iterator[tuple]:
    """Yield (job index, records) as folders finish, wherever they run."""
    if converter is not None or options.scheduler is None and min(options.workers, len(jobs)) <= 1:
        for index, job in enumerate(jobs):
            full = yield from _folder_records(index, partial(process_folder, job, converter or convert_core))
            if full is not None:
                raise full
    elif options.scheduler:
        yield from _run_on_dask(jobs, options.scheduler)
    else:  # never more workers than folders: an idle process costs its start-up and memory
        yield from _run_in_processes(jobs, min(options.workers, len(jobs)))


def _run_in_processes(jobs: Sequence[FolderJob], workers: int) -> Iterator[tuple]:
    """Folders in worker processes.  Workers never act on Ctrl-C or a hang-up: the parent owns the
    interrupt (and SIGTERM, see :mod:`.lifetime`), terminates them, and removes their temporary
    files (it holds the output lock); a worker whose parent dies ends by itself."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait  # only for pools
    method = worker_start_method()
    if method == "fork":  # a child would print the parent's buffered output a second time
        sys.stdout.flush()
        sys.stderr.flush()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=_start_worker)
    pending: Dict["Future[List[CoreRecord]]", int] = {}
    queue = list(enumerate(jobs))
    finished_normally = False
    try:
        # Submit a bounded window so cancelling does not wait for hundreds of queued folders.
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                index, job = queue.pop(0)
                with _interrupts_blocked():  # workers start here and inherit the blocked signals
                    pending[pool.submit(process_folder, job)] = index
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            full: Optional[OutputFull] = None
            for future in finished:
                index = pending.pop(future)
                stop = yield from _folder_records(index, partial(_result_or_failure, future, jobs[index]))
                full = full or stop
            if full is not None:
                # The disk is full: start nothing more, but let the folders already running end
                # (each completes or stops at the full disk by itself) and record what they wrote,
                # so the summary and the manifest count every core that is on disk.
                queue.clear()
                for future in [f for f in pending if f.cancel()]:
                    pending.pop(future)
                for future in wait(list(pending))[0]:
                    index = pending.pop(future)
                    yield from _folder_records(index, partial(_result_or_failure, future, jobs[index]))
                raise full
        finished_normally = True
    finally:
        if not finished_normally:  # interrupted or cancelled: stop the work in progress now
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def worker_start_method() -> str:
    """How the pool starts its workers: "fork" where that is safe, else "spawn".

    A forked worker starts at once with the engine and numpy imported; a spawned one starts an
    interpreter and imports them again (~0.1–0.3 s of CPU each), which a batch of a few cores on a
    few CPUs pays in full while its workers cannot work yet.  Fork is safe only in a process that
    runs no other thread (none can hold a lock the child would inherit locked: Slicer, Dask and
    the progress bar's monitor start threads) on Linux (macOS frameworks do not survive a fork),
    with Python ≥ 3.11, whose pool forks all its workers before starting its own manager thread
    (older ones fork on demand, later, beside that thread)."""
    if sys.platform.startswith("linux") and sys.version_info >= (3, 11) and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _start_worker() -> None:
    """Pool initializer: a forked worker drops the stop-signal handlers it inherited from the
    main process (a spawned one starts without them: SIGTERM must end a worker, not raise in
    it), then follows its parent (:func:`.lifetime.die_with_parent`)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    die_with_parent()


@contextmanager
def _interrupts_blocked() -> Iterator[None]:
    """Workers started inside inherit these signals blocked (SIGTERM too, which
    :func:`.lifetime.die_with_parent` unblocks once the worker can take it); here, in the main
    process, a stop signal meanwhile waits until the pool is consistent again."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_BLOCKED_SIGNALS | {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a Ctrl-C meanwhile arrives now


def _run_on_dask(jobs: Sequence[FolderJob], address: str) -> Iterator[tuple]:
    from .cluster import SchedulerUnreachable, connect
    try:
        client = connect(address)
    except SchedulerUnreachable as exc:
        raise UsageError(str(exc)) from None
    from distributed import as_completed
    try:
        futures = {client.submit(process_folder, job, pure=False, key="corebatchloader-%d-%s" % (
            index, job.folder.name)): index for index, job in enumerate(jobs)}
        for future in as_completed(list(futures)):
            index = futures[future]
            full = yield from _folder_records(index, partial(_result_or_failure, future, jobs[index]))
            if full is not None:
                raise full
    finally:
        client.close()


def _folder_records(index: int, outcome: Callable[[], List[CoreRecord]]) -> Generator[tuple, None,
                                                                                   Optional[OutputFull]]:
    """Yield (index, records) of one finished folder.  When the output disk filled while it ran,
    yield what it had written before (cores complete on disk) and return the :class:`OutputFull`:
    the caller stops the batch, after recording every core that is on disk."""
    try:
        records = outcome()
    except OutputFull as exc:
        if exc.written:
            yield index, exc.written
        return exc
    yield index, records
    return None


def _result_or_failure(future: object, job: FolderJob) -> List[CoreRecord]:
    try:
        return future.result()  # type: ignore[attr-defined]
    except OutputFull:
        raise  # the output disk is full: the batch stops
    except Exception as exc:  # a crashed worker fails its folder only
        return [_folder_failure(job, "worker failed: %s" % one_line(exc))]
