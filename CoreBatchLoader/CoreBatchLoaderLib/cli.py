"""The ``corebatchloader`` command: the batch job outside Slicer.

Exit status: 0 every core converted (or skipped as already done), 1 some core failed (the others
were still converted), the output disk filled up (the batch stopped; a rerun resumes) or no DICOM
series was found at all (most likely the wrong INPUT), 2 the command could not start (bad
arguments, missing input, output is a file, the input or one of its core folders, output in use),
130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (stopped cleanly alike).  Bad data never shows a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Callable, Iterator, List, Optional

# Before numpy loads (the imports below): numpy's OpenBLAS starts a thread per CPU that spins
# for ~130 ms of CPU once it starts (and after each threaded call) — measured here, a fifth of
# a 900-slice core's conversion, taken from the other workers.  The batch makes no call that
# threads would speed up: its parallelism is one process per worker.  A value the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from . import __version__
from .analysis.ct_log import DEFAULT_VOID_THRESHOLD_HU
from .analysis.surroundings import CoreRangeError, check_core_range
from .analysis.unwrap_rings import UnwrapRadius, UnwrapRadiusError
from .batch import events
from .batch.lifetime import stop_signals_interrupt
from .batch.manifest import MANIFEST_NAME, read_manifest
from .batch.run import BatchOptions, BatchResult, Progress, UsageError, run_batch
from .convert import MAX_SLICE_PIXELS, ConvertOptions
from .defaults import DEFAULT_RADIUS_TEXT, DEFAULT_WORKERS
from .messages import human_bytes, throughput_text
from .nrrd.deflate import fast_gzip_note
from .synthetic.sample_well import TRUTH_NAME, SampleWell, write_sample_well
from .well.depths import DEPTH_RANGE, DEPTH_UNITS, well_depth
from .well.options import SceneOptions
from .well.proxies import default_budget, parse_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corebatchloader",
        description="Convert CT scans of rock well cores (DICOM, one folder per core) into NRRD "
                    "volumes for 3D Slicer.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    convert = commands.add_parser("convert", help="convert every core under INPUT",
                                  description="Convert every core (DICOM series) found under INPUT into "
                                              "OUTPUT_DIR/<core>.nrrd and write OUTPUT_DIR/manifest.json.")
    add_convert_arguments(convert)

    sample = commands.add_parser(
        "sample", help="write a synthetic well that looks like rock (for trying things out)",
        description="Write a synthetic well into FOLDER: cores lying back to back from --start-depth, one "
                    "folder of DICOM files (one per slice) each, cut from beds of distinct CT numbers that dip "
                    "and are laminated; each core in a plastic liner, slightly tilted, some with an open "
                    "fracture, a vug or a rubble interval. FOLDER/truth.json says what was drawn and where, "
                    "FOLDER/depths.csv gives the depths to convert --depths. Written a slice at a time: memory "
                    "does not grow with the well.")
    sample.add_argument("folder", type=Path, metavar="FOLDER", help="where the core folders go (created)")
    sample.add_argument("--cores", type=_positive_int, default=SampleWell.cores, help="cores (default %(default)s)")
    sample.add_argument("--slices", type=_positive_int, default=SampleWell.slices,
                        help="slices per core (default %(default)s)")
    sample.add_argument("--size", type=_positive_int, default=SampleWell.size,
                        help="rows and columns of a slice (default %(default)s)")
    sample.add_argument("--slice-spacing", type=_positive_float, default=SampleWell.slice_spacing_mm, metavar="MM",
                        help="distance between slices in mm (default %(default)s; a core is SLICES × MM long)")
    sample.add_argument("--pixel-spacing", type=_positive_float, default=SampleWell.pixel_spacing_mm, metavar="MM",
                        help="pixel size in mm (default %(default)s; a core's diameter is 0.6 × SIZE × MM)")
    sample.add_argument("--start-depth", type=_depth, default=SampleWell.top_m, metavar="M",
                        help="depth of the first core's top in metres (default %(default)s)")
    sample.add_argument("--seed", type=int, default=SampleWell.seed,
                        help="another seed, another well (default %(default)s)")
    from .commands import depth_match, planes
    planes.add_parser(commands)
    depth_match.add_parser(commands)
    return parser


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    """INPUT, OUTPUT_DIR and the conversion options (shared with the Slicer headless entry)."""
    parser.add_argument("input", type=Path, metavar="INPUT", help="folder holding the core folders")
    parser.add_argument("output", type=Path, metavar="OUTPUT_DIR", help="where the NRRD files go")
    parser.add_argument("--compress", action="store_true", help="gzip-compress the NRRD data (slower)")
    parser.add_argument("--overwrite", action="store_true",
                        help="convert again cores that are already done, replacing their files")
    parser.add_argument("--workers", type=_positive_int, default=DEFAULT_WORKERS, metavar="N",
                        help="worker processes (default: the number of CPUs, %(default)s here)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster (e.g. tcp://head:8786) instead")
    parser.add_argument("--on-gap", choices=("fill", "fail"), default="fill",
                        help="a missing slice is filled with background at its true position "
                             "(default, with a warning) or fails the core")
    parser.add_argument("--format", choices=("nrrd", "nhdr"), default="nrrd", dest="output_format",
                        help="nrrd: one file per core (default); nhdr: a detached header that points "
                             "at the DICOM files (zero copy), only where that is exact")
    parser.add_argument("--no-fsync", action="store_true",
                        help="force no file to disk (no fsync at all: faster; a power cut may lose the "
                             "last files, never leave half a file under a final name)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    parser.add_argument("--max-slice-pixels", type=_positive_int, default=MAX_SLICE_PIXELS, metavar="N",
                        help="a core whose slices have more pixels (rows × columns) fails naming them, before "
                             "any is read (default %(default)d, 16384²)")
    parser.add_argument("--no-ct-log", action="store_false", dest="ct_log",
                        help="do not measure the CT log (logs/<core>.csv, well_ct_log.las) while converting")
    parser.add_argument("--void-threshold", type=_finite_float, default=DEFAULT_VOID_THRESHOLD_HU, metavar="HU",
                        help="the CT log's void fraction counts voxels below this (default %(default)g HU)")
    analysis = parser.add_argument_group("measured while converting")
    analysis.add_argument("--unwrap-radius", type=_unwrap_radius, default=DEFAULT_RADIUS_TEXT, metavar="R",
                          help="radius of each core's unwrapped surface (unwrap/<core>_unwrap.nrrd): a fraction "
                               "of the core's measured radius (default %(default)s) or millimetres (30mm)")
    analysis.add_argument("--no-unwrap", action="store_true", help="do not unwrap the cores")
    analysis.add_argument("--planes", action="store_true",
                          help="pick each core's beds and fractures from its unwrap after converting "
                               "(planes/<core>.csv, well_planes.csv; as `corebatchloader planes` does)")
    analysis.add_argument("--core-min-hu", type=_finite_float, metavar="HU",
                          help="matter at or above this CT number is core (default: decided per core from what "
                               "surrounds it: air, liner, fluid fill; 300 HU for rock in air, lower for soft cores)")
    analysis.add_argument("--core-max-hu", type=_finite_float, metavar="HU",
                          help="matter above this CT number is not core (default: no ceiling), e.g. a barrel or "
                               "rods denser than the core")
    parser.add_argument("--progress", choices=("bar", "json"), default="bar",
                        help="bar: a progress bar on stderr (default); json: for programs (the Slicer module "
                             "runs the batch so): one JSON object per line on stdout after each core folder and "
                             "at the end, nothing else on stdout")
    well = parser.add_argument_group("depths and the whole-well scene")
    well.add_argument("--depths", type=Path, metavar="FILE", dest="depths_file",
                      help="core depths: two columns top bottom, one row per core folder in name order "
                           "(GeoSlicer), or a table (CSV, text or .xlsx) with a header such as core,top,bottom[,flip] "
                           "or Core ID,Top (ft),Bottom (ft) (docs/well.md)")
    well.add_argument("--depth-unit", choices=sorted(DEPTH_UNITS), metavar="m|ft",
                      help="unit of --depths (where its header names none) and of --start-depth/--core-length "
                           "(default: the header's unit, else metres)")
    well.add_argument("--start-depth", type=_depth, metavar="DEPTH",
                      help="top of the first core; with --core-length the cores lie back to back in name order")
    well.add_argument("--core-length", type=_depth, metavar="LENGTH",
                      help="length of every core, with --start-depth")
    well.add_argument("--flip-all", action="store_true",
                      help="every scan runs bottom to top (the larger slice position is the core's top)")
    well.add_argument("--scene", action="store_true",
                      help="write OUTPUT_DIR/scene.mrml: every core at its depth within --scene-memory, an "
                           "overview volume and well_strip.png (needs depths and slicer-core)")
    well.add_argument("--scene-memory", type=_size, metavar="SIZE",
                      help="voxel memory the scene may take, e.g. 8G, 512MiB, 2GB; more cores are shown as "
                           "downsampled proxies (default: a quarter of RAM, %.1f GiB here)" % (default_budget() / 2 ** 30))
    well.add_argument("--well-name", metavar="NAME",
                      help="the well's name in the scene and the LAS file (default: INPUT's name)")
    well.add_argument("--company", metavar="NAME", help="the LAS file's COMP (default: empty, and its note says so)")
    well.add_argument("--field", metavar="NAME", help="the LAS file's FLD (default: empty)")
    well.add_argument("--uwi", metavar="ID", help="the LAS file's UWI, the unique well identifier (default: empty)")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sample":
        return _sample(args)
    if getattr(args, "run", None) is not None:  # a sub-command of .commands
        return args.run(args)
    return run_convert(args)


def run_convert(args: argparse.Namespace) -> int:
    note = fast_gzip_note() if args.compress else None
    if note:
        print("corebatchloader: %s" % note, file=sys.stderr)
    return run_and_summarize(args, lambda bar: run_batch(args.input, args.output, batch_options(args), progress=bar,
                                                         stage=bar.stage if bar is not None else None))


def batch_options(args: argparse.Namespace) -> BatchOptions:
    """The batch's options from ``convert``'s arguments (the Slicer module writes them back as
    arguments for its child process: :func:`CoreBatchLoaderLib.slicer_process.convert_arguments`).
    :class:`UsageError` for options that contradict each other."""
    try:
        check_core_range(getattr(args, "core_min_hu", None), getattr(args, "core_max_hu", None))
    except CoreRangeError as exc:
        raise UsageError(str(exc)) from None
    return BatchOptions(
        convert=ConvertOptions(compress=args.compress, gap_policy=args.on_gap, durable=not args.no_fsync,
                               output_format=args.output_format, ct_log=args.ct_log,
                               void_threshold_hu=args.void_threshold,
                               core_min_hu=args.core_min_hu, core_max_hu=args.core_max_hu,
                               unwrap_radius=None if args.no_unwrap else args.unwrap_radius,
                               max_slice_pixels=args.max_slice_pixels),
        overwrite=args.overwrite, workers=args.workers, scheduler=args.scheduler, scene=scene_options(args),
        planes=getattr(args, "planes", False))


def run_and_summarize(args: argparse.Namespace,
                      start: Callable[[Optional["ProgressBar"]], BatchResult]) -> int:
    """Run a batch (``start`` gets the progress callback: the bar, the JSON lines, or None with
    --quiet), print the summary, and turn the outcome into the exit status; shared with Slicer's
    headless entry.

    SIGTERM and SIGHUP stop the batch as Ctrl-C does (:mod:`.batch.lifetime`): exit status 143,
    129 (130 for Ctrl-C), every core written so far complete and recorded."""
    json_lines = getattr(args, "progress", "bar") == "json"
    with stop_signals_interrupt() as stops, \
            (_stdout_for_json_only() if json_lines else contextlib.nullcontext(None)) as emit:
        bar = JsonProgress(emit) if emit is not None else None if args.quiet else ProgressBar()
        emit = emit or (lambda event: None)
        try:
            result = start(bar)
        except UsageError as exc:
            print("corebatchloader: error: %s" % exc, file=sys.stderr)
            emit(events.error_event(str(exc)))
            return 2
        except KeyboardInterrupt:
            print("corebatchloader: interrupted; %s" % recorded_so_far(args.output), file=sys.stderr)
            emit(events.interrupted_event(stops.exit_status()))
            return stops.exit_status()
        finally:
            if bar is not None:
                bar.close()
        print_summary(result, args.output, args.input)
        status = stops.exit_status() if result.cancelled else result.exit_code
        emit(events.end_event(result, status))
        return status


@contextlib.contextmanager
def _stdout_for_json_only() -> Iterator[Callable[[dict], None]]:
    """Keep stdout for the JSON lines alone: they go to a copy of the descriptor that spawned
    worker processes do not inherit (forked ones end with the batch: :mod:`.batch.lifetime`), and
    descriptor 1 points at stderr meanwhile, so everything else this process or its workers write
    (the summary, a stray print) goes there — and no worker keeps the reader's stdout open.
    Yields the function that writes one event as one line, flushed at once."""
    sys.stdout.flush()
    saved = os.dup(1)
    lines = os.fdopen(os.dup(1), "w", encoding="ascii")
    os.dup2(2, 1)

    def emit(event: dict) -> None:
        lines.write(events.line(event) + "\n")
        lines.flush()

    try:
        yield emit
    finally:
        sys.stdout.flush()
        lines.close()
        os.dup2(saved, 1)
        os.close(saved)


class JsonProgress:
    """The progress callback of ``--progress json``: one ``"folder"`` event per core folder."""

    def __init__(self, emit: Callable[[dict], None]) -> None:
        self._emit = emit

    def __call__(self, progress: Progress) -> bool:
        self._emit(events.folder_event(progress))
        return False

    def stage(self, step: str, message: str) -> None:
        """A step after the last folder starts: a ``"stage"`` event."""
        self._emit(events.stage_event(step, message))

    def close(self) -> None:
        pass


SUMMARY_LINES = 40  # errors first, then warnings


def recorded_so_far(output: Path) -> str:
    """What a batch stopped outside its folder loop has done, from its manifest (for the line that
    says it was interrupted: the cores it wrote are complete and count)."""
    records = read_manifest(Path(output).resolve())
    counts = {status: sum(r.status == status for r in records) for status in ("converted", "skipped", "failed")}
    return "%d converted, %d skipped, %d failed so far — manifest: %s" % (
        counts["converted"], counts["skipped"], counts["failed"], Path(output) / MANIFEST_NAME)


def print_summary(result: BatchResult, output: Path, input_dir: Path) -> None:
    counts = {status: sum(r.status == status for r in result.records) for status in ("converted", "skipped", "failed")}
    lines = ["FAILED %s: %s" % (r.name, r.error) for r in result.failed]
    lines += ["warning %s: %s" % (r.name, w) for r in result.records if r.status == "converted" for w in r.warnings]
    for line in lines[:SUMMARY_LINES]:  # a well of hundreds of cores must not flood the terminal
        print(line, file=sys.stderr)
    if len(lines) > SUMMARY_LINES:
        print("… and %d more lines: every error and warning is in %s" % (
            len(lines) - SUMMARY_LINES, result.report or result.manifest or MANIFEST_NAME), file=sys.stderr)
    print("%d converted, %d skipped, %d failed%s — manifest: %s" % (
        counts["converted"], counts["skipped"], counts["failed"],
        " (interrupted)" if result.cancelled else "", result.manifest or Path(output) / MANIFEST_NAME))
    if result.report is not None:
        print("report: %s" % result.report)
    if result.stopped:
        print("corebatchloader: stopped: %s" % result.stopped, file=sys.stderr)
    for line in result.warnings:
        print("corebatchloader: warning: %s" % line, file=sys.stderr)
    for line in result.not_written:
        print("corebatchloader: %s" % line, file=sys.stderr)
    if not result.records and not result.cancelled and not result.stopped:  # a full disk is the reason given
        print("corebatchloader: no DICOM image series found under %s (%d folder%s with files looked at)" % (
            input_dir, result.folders, "" if result.folders == 1 else "s"), file=sys.stderr)
    well = result.well
    converted = {r.name for r in result.records if r.status == "converted"}  # their warnings are printed above
    for line in well.unplaced if well is not None else ():
        if line.split(":", 1)[0] not in converted:
            print("warning %s" % line, file=sys.stderr)
    if well is not None and well.log is not None:
        for warning in well.log.warnings:
            print("warning CT log: %s" % warning, file=sys.stderr)
        if well.log.las is not None:
            print("CT log: %s" % well.log.las)
    if result.planes is not None:
        from .batch.planes_step import planes_summary
        for line in result.planes.left_out:
            print("not picked %s" % line, file=sys.stderr)
        print(planes_summary(result.planes))
    if well is not None and well.error:
        print("corebatchloader: %s" % well.error, file=sys.stderr)
    if well is not None and well.layout is not None:
        for warning in well.layout.warnings:
            print("warning scene: %s" % warning, file=sys.stderr)
        print("scene: %s (%d cores, %s)" % (well.scene, len(well.layout.cores), "full resolution"
                                            if well.layout.factor == 1 else "proxies 1:%d" % well.layout.factor))


def scene_options(args: argparse.Namespace) -> SceneOptions:
    """The depth and scene options of ``add_convert_arguments`` (absent ones: the defaults)."""
    return SceneOptions(depths_file=getattr(args, "depths_file", None),
                        start_depth_m=getattr(args, "start_depth", None),
                        core_length_m=getattr(args, "core_length", None),
                        depth_unit=getattr(args, "depth_unit", None),
                        flip_all=getattr(args, "flip_all", False), build_scene=getattr(args, "scene", False),
                        memory_budget=getattr(args, "scene_memory", None), well_name=getattr(args, "well_name", None),
                        company=getattr(args, "company", None), field=getattr(args, "field", None),
                        uwi=getattr(args, "uwi", None))


class ProgressBar:
    """tqdm bar over folders when tqdm is installed, else one line per folder on stderr."""

    def __init__(self) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self._tqdm_class = tqdm
        self._bar = None

    def __call__(self, progress: Progress) -> bool:
        rate = throughput_text(progress.bytes_done, progress.elapsed)  # the report's figure, the same function
        if self._tqdm_class is not None:
            if self._bar is None:
                self._bar = self._tqdm_class(total=progress.folders_total, unit="folder", file=sys.stderr,
                                             dynamic_ncols=True)
            self._bar.set_postfix_str("%d cores, %s, %s, %d failed" % (
                progress.cores_done, human_bytes(progress.bytes_done), rate, progress.failed))
            self._bar.update(1)
        else:
            names = ", ".join("%s %s" % (r.name, r.status) for r in progress.records)
            print("[%d/%d] %s (%s, %d failed)" % (progress.folders_done, progress.folders_total,
                                                  names, rate, progress.failed), file=sys.stderr)
        return False

    def stage(self, step: str, message: str) -> None:
        """A step after the last folder starts (the bar stands at 100 % meanwhile): one line."""
        if self._tqdm_class is not None and self._bar is not None:
            self._tqdm_class.write(message, file=sys.stderr)  # below the finished bar, which stays
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _sample(args: argparse.Namespace) -> int:
    truth = write_sample_well(args.folder, cores=args.cores, slices=args.slices, size=args.size,
                              slice_spacing_mm=args.slice_spacing, pixel_spacing_mm=args.pixel_spacing,
                              top_m=args.start_depth, seed=args.seed)
    print("wrote %d synthetic cores (%d slices of %d×%d each, %g to %g m) under %s; what was drawn: %s" % (
        len(truth["cores"]), args.slices, args.size, args.size, truth["well"]["top_m"], truth["well"]["bottom_m"],
        args.folder, Path(args.folder) / TRUTH_NAME))
    return 0


def _finite_float(text: str) -> float:
    """A number: NaN and infinity (also "1e309") are usage errors, not depths or CT numbers."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError("%r is not a finite number" % text)
    return value


def _depth(text: str) -> float:
    """A depth or length (metres or --depth-unit), within what a well can be (``--start-depth``, ``--core-length``)."""
    value = _finite_float(text)
    if not well_depth(value):
        raise argparse.ArgumentTypeError("%s is not a depth in a well (%s)" % (text, DEPTH_RANGE))
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _unwrap_radius(text: str) -> str:
    try:
        return UnwrapRadius.parse(text).text()
    except UnwrapRadiusError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
