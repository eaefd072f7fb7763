"""Benchmark: CoreBatchLoader against the physical floors and the tools users would pick instead.

Run with `make bench` (installs the peers into .venv first).  Never part of the test suite.

Data (generated once, cached under bench/.cache): a batch of 4 cores × 500 slices of 512² (~1 GB,
the first batch a new user runs), one large core (1,000 slices of 512², unsigned 12-bit with
RescaleIntercept −1024, so the rescale must really be applied; ~500 MB), the same without rescale
(for `--format nhdr`), a well of 20 smaller cores, and a core of the size the labs scan (133 mm ×
900 mm at 0.5 mm: 1,800 slices of 512², 0.94 GB).

The floors, measured in the same run: `cat` of each core's slices into one file per core (for
`--no-fsync`), and the same followed by an fsync of each file (for the default, durable command).
Every command runs in its own process, interleaved over several rounds (so a busy machine or a
drifting cache hits every tool alike), each after `sync` so no tool pays for the previous one's
writes.  Each command runs twice a round: warm (the DICOM files in the page cache: the cost of
the program itself) and cold (the DICOM files evicted from the page cache with
posix_fadvise(DONTNEED) first, as they are in a real run over hundreds of GB).  The tables report
median wall times, their ratios to both floors, and the peak RSS of the process (GNU time), then
each data set's ratios against the targets of issue 11; then start-up and per-core fixed costs,
and the deflate measurement behind `--compress` (bench/gzip_choice.py).

Writes bench/results.md and prints it.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))

PY = sys.executable
CLI = [PY, "-m", "CoreBatchLoaderLib.cli", "convert"]


REAL_CORE_SLICES = 1800  # 900 mm of core at 0.5 mm
BATCH_SHAPE = (4, 500)  # cores × slices of 512²: ~1 GB, the batch a new user runs first (issue 11)
BATCH_NAME = "batch_%dx%d" % BATCH_SHAPE


def generate(large_slices: int, well_cores: int) -> None:
    """Write the data once; run in a child process (see main) so this process stays small."""
    from CoreBatchLoaderLib.synthetic import write_core_series, write_well
    core = dict(rows=512, columns=512, slice_spacing=0.5, pixel_spacing=(0.26, 0.26))
    hounsfield = dict(signed=False, bits_stored=12, intercept=-1024.0)
    data = [
        (CACHE / ("plain_%d" % large_slices), "the plain int16 core for --format nhdr (no rescale: .nhdr is exact)",
         lambda f: write_core_series(f / "core", slices=large_slices, signed=True, **core)),
        (CACHE / ("large_%d" % large_slices), "the large core (%d slices of 512×512)" % large_slices,
         lambda f: write_core_series(f / "core", slices=large_slices, **hounsfield, **core)),
        (CACHE / ("real_%d" % REAL_CORE_SLICES), "a lab-size core (%d slices of 512×512)" % REAL_CORE_SLICES,
         lambda f: write_core_series(f / "core", slices=REAL_CORE_SLICES, **hounsfield, **core)),
        (CACHE / ("well_%d" % well_cores), "a well of %d cores" % well_cores,
         lambda f: write_well(f, cores=well_cores, slices=200, rows=256, columns=256, **hounsfield)),
        (CACHE / "tiny_1", "one core of two 64² slices", lambda f: write_well(f, cores=1, slices=2, rows=64, columns=64)),
        (CACHE / ("tiny_%d" % FIXED_COST_CORES), "%d cores of two 64² slices" % FIXED_COST_CORES,
         lambda f: write_well(f, cores=FIXED_COST_CORES, slices=2, rows=64, columns=64)),
        (CACHE / BATCH_NAME, "the batch of issue 11 (%d cores × %d slices of 512²)" % BATCH_SHAPE,
         lambda f: write_well(f, cores=BATCH_SHAPE[0], slices=BATCH_SHAPE[1], rows=512, columns=512,
                              slice_spacing=0.5, pixel_spacing=(0.26, 0.26), **hounsfield)),
    ]
    for folder, what, write in data:
        if not _done(folder).exists():
            shutil.rmtree(folder, ignore_errors=True)
            print("generating %s…" % what, flush=True)
            write(folder)
            _done(folder).write_text("ok")


GNU_TIME = "/usr/bin/time"


def _done(folder: Path) -> Path:
    """Marker of a complete data set, beside it (inside, it would be one more folder to scan)."""
    return folder.with_name(folder.name + ".done")


def timed(command: List[str]) -> Tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one command and the processes it waits for.

    The RSS comes from GNU time (`%M`), a tiny C process: measuring with wait4() from this
    Python process would report at least this process's own size, since Linux starts a child's
    peak RSS from its parent's resident size at fork.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        run = subprocess.run([GNU_TIME, "-f", "%M", "-o", rss.name] + command, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if run.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(command[:3]), run.stderr.decode()[-500:]))
        peak_kb = int(rss.read().split()[-1])
    return elapsed, peak_kb // 1024


def evict(source: Path) -> None:
    """Drop ``source``'s files from the page cache (no root needed: the pages are clean), so the
    next command reads them from the disk as a batch over hundreds of GB does."""
    for path in source.rglob("*.dcm"):
        fd = os.open(str(path), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def peers_for(source: Path, scratch: Path, workers: int) -> Dict[str, Callable[[], List[str]]]:
    """name → function returning a fresh command (each run writes into an empty folder).

    The floors: `cat` of each core's slices into one file per core (what `--no-fsync` is held
    to), and the same followed by an fsync of each file (`sync FILE…`: what the default, durable
    command is held to)."""
    files = sorted(str(p) for p in source.rglob("*.dcm"))
    core_folders = sorted({str(Path(f).parent) for f in files})
    several = len(core_folders) > 1

    def fresh(name: str) -> Path:
        folder = scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def cat_loop(out: Path) -> str:
        return 'for d in "$@"; do cat "$d"/*.dcm > %s/"$(basename "$d")".raw; done' % out

    def cat() -> List[str]:
        return ["sh", "-c", cat_loop(fresh("cat")), "cat"] + core_folders

    def cat_fsync() -> List[str]:
        out = fresh("catsync")
        return ["sh", "-c", cat_loop(out) + "; sync %s/*.raw" % out, "cat"] + core_folders

    def cat_parallel() -> List[str]:
        """N shell loops at once, each over its share of the folders: the floor for N workers."""
        out = fresh("catn")
        shares = [core_folders[n::workers] for n in range(workers)]
        script = " ".join("sh -c '%s' cat %s &" % (cat_loop(out), " ".join(shlex.quote(f) for f in share))
                          for share in shares)
        return ["sh", "-c", script + " wait"]

    def ours(name: str, *options: str) -> Callable[[], List[str]]:
        return lambda: CLI + [str(source), str(fresh(name)), "--quiet"] + list(options)

    commands: Dict[str, Callable[[], List[str]]] = {
        CAT: cat,
        DURABLE_FLOOR: cat_fsync,
        DEFAULT: ours("default"),
        CONVERT_ONLY: ours("convert", *NO_ANALYSES),
        NO_FSYNC: ours("nofsync", "--no-fsync"),
        NO_FSYNC_CONVERT_ONLY: ours("nofsyncconvert", "--no-fsync", *NO_ANALYSES),
        # the CT log (#12) and the unwrap (#13) are measured while converting: with the CT log
        # alone here, both and neither above (bench/analysis_cost.py measures them in detail)
        NO_FSYNC + " --no-unwrap (CT log only)": ours("nofsynclog", "--no-fsync", "--no-unwrap"),
    }
    if several and workers > 1:
        commands[NO_FSYNC_CONVERT_ONLY + ", 1 worker"] = ours("nofsync1", "--no-fsync", "--workers", "1",
                                                             *NO_ANALYSES)
        commands["%d × cat in parallel" % workers] = cat_parallel
    if "plain" not in source.name:  # gzip: CPU-bound, where the deflate and the workers show
        commands[COMPRESS] = ours("gz", "--compress")
        commands[COMPRESS + " " + " ".join(NO_ANALYSES)] = ours("gzconvert", "--compress", *NO_ANALYSES)
    else:  # exact as .nhdr: the zero-copy header against the copying conversion
        commands["corebatchloader --format nhdr"] = ours("nhdr", "--format", "nhdr")
    dcm2niix = shutil.which("dcm2niix") or str(Path(PY).parent / "dcm2niix")
    if Path(dcm2niix).exists():
        commands[PEERS[0]] = lambda: ["sh", "-c", 'for d in "$@"; do %s -e y -z n -b n -o %s -f "$(basename "$d")" '
                                      '"$d"; done' % (dcm2niix, fresh("dcm2niix")), "dcm2niix"] + core_folders
    if _importable("SimpleITK"):
        commands[PEERS[1]] = lambda: [PY, str(HERE / "peers.py"), "simpleitk", str(fresh("sitk"))] + core_folders
    if _importable("slicer"):
        commands[PEERS[2]] = lambda: [PY, str(HERE / "peers.py"), "slicer", str(fresh("slicer"))] + core_folders
    return commands


CAT, DURABLE_FLOOR = "cat (floor)", "cat + fsync of each file (durable floor)"
NO_ANALYSES = ("--no-ct-log", "--no-unwrap")
DEFAULT = "**corebatchloader** (the default: fsync, CT log, unwrap, workers = CPUs)"
CONVERT_ONLY = "corebatchloader --no-ct-log --no-unwrap (conversion alone, fsync)"
NO_FSYNC = "corebatchloader --no-fsync"
NO_FSYNC_CONVERT_ONLY = "corebatchloader --no-fsync --no-ct-log --no-unwrap"
COMPRESS = "corebatchloader --compress"
PEERS = ("dcm2niix -e y (NRRD)", "SimpleITK series → NRRD", "Slicer reader + NRRD storage node")


def _importable(module: str) -> bool:
    return subprocess.run([PY, "-c", "import %s" % module], capture_output=True).returncode == 0


def header_scan_rate(source: Path) -> float:
    """Files per second for the header scan alone (discovery + grouping, no pixels)."""
    code = ("import sys,time;from pathlib import Path;"
            "from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder;"
            "t=time.perf_counter();n=0\n"
            "for f in find_core_folders(Path(sys.argv[1])):\n"
            "    n+=sum(len(c.slices) for c in scan_folder(f).cores)\n"
            "print(n/(time.perf_counter()-t))")
    out = subprocess.run([PY, "-c", code, str(source)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT / "CoreBatchLoader")))
    return float(out.stdout.strip())


MODES = ("warm", "cold")


def interleaved(commands: Dict[str, Callable[[], List[str]]], rounds: int, source: Optional[Path], label: str
                ) -> Tuple[Dict[str, Dict[str, float]], Dict[str, int]]:
    """Median wall seconds per mode and command, and peak RSS; every round runs every command in
    both modes, one after the other, so a busy machine or a drifting cache hits all alike."""
    times = {mode: {name: [] for name in commands} for mode in MODES}  # type: Dict[str, Dict[str, List[float]]]
    memory: Dict[str, int] = {name: 0 for name in commands}
    for command in commands.values():  # warm the page cache, the imports and their bytecode
        timed(command())
    for round_number in range(rounds):
        for name, command in commands.items():
            for mode in MODES if source is not None else MODES[:1]:
                argv = command()  # empties the tool's output folder (before the sync)
                if mode == "cold":
                    evict(source)  # type: ignore[arg-type]
                os.sync()
                seconds, rss = timed(argv)
                times[mode][name].append(seconds)
                memory[name] = max(memory[name], rss)
        print("  %s: round %d/%d done" % (label, round_number + 1, rounds), flush=True)
    return {mode: {name: statistics.median(values) for name, values in by_name.items() if values}
            for mode, by_name in times.items()}, memory


def against_targets(median: Dict[str, Dict[str, float]], well: bool) -> List[str]:
    """The issue-11 ratios of one data set, in words."""
    def ratios(top: str, bottom: str) -> str:
        return ", ".join("%s %.2f×" % (mode, median[mode][top] / median[mode][bottom]) for mode in MODES)
    limit = "1.5" if well else "1.25"
    lines = ["- default ÷ durable floor: %s; conversion alone: %s (target ≤ 1.25×)" % (
                 ratios(DEFAULT, DURABLE_FLOOR), ratios(CONVERT_ONLY, DURABLE_FLOOR)),
             "- `--no-fsync` ÷ `cat`: %s; conversion alone: %s (target ≤ %s×)" % (
                 ratios(NO_FSYNC, CAT), ratios(NO_FSYNC_CONVERT_ONLY, CAT), limit)]
    peers = [p for p in PEERS if p in median["warm"]]
    if peers:
        fastest = {mode: min(peers, key=lambda p: median[mode][p]) for mode in MODES}
        for ours in (DEFAULT, CONVERT_ONLY):
            lines.append("- fastest peer ÷ %s: %s (target ≥ 3× warm, ≥ 2× cold)" % (
                "default" if ours == DEFAULT else "conversion alone", ", ".join(
                    "%s %.1f× (%s)" % (mode, median[mode][fastest[mode]] / median[mode][ours],
                                       fastest[mode].split()[0]) for mode in MODES)))
    if COMPRESS in median["warm"]:
        lines.append("- `--compress` ÷ default: %s (target ≤ 2.5× on the 4-core batch)" % ratios(COMPRESS, DEFAULT))
    return lines


def run(data: Dict[str, Path], rounds: int, workers: int) -> str:
    lines = []
    env_path = str(ROOT / "CoreBatchLoader")
    os.environ["PYTHONPATH"] = env_path + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as scratch_name:
        scratch = Path(scratch_name)
        for label, source in data.items():
            size = sum(p.stat().st_size for p in source.rglob("*.dcm"))
            count = sum(1 for _ in source.rglob("*.dcm"))
            commands = peers_for(source, scratch, workers)
            median, memory = interleaved(commands, rounds, source, label)
            lines += ["### %s — %d files, %.0f MB" % (label, count, size / 1e6), "",
                      "| tool | warm s | × cat | × durable floor | cold s | × cat | × durable floor | cold MB/s "
                      "| peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for name in commands:
                warm, cold = (median[mode][name] for mode in MODES)
                lines.append("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %d |" % (
                    name, warm, warm / median["warm"][CAT], warm / median["warm"][DURABLE_FLOOR], cold,
                    cold / median["cold"][CAT], cold / median["cold"][DURABLE_FLOOR], size / 1e6 / cold,
                    memory[name]))
            lines += [""] + against_targets(median, "well" in source.name)
            lines += ["- header scan alone (discovery + grouping, no pixels, warm): %.0f files/s" %
                      header_scan_rate(source), ""]
    return "\n".join(lines)


def fixed_costs(rounds: int) -> str:
    """Start-up and the per-core fixed cost, from runs on cores of two 64² slices (no I/O to
    speak of): a one-core run, and a run of FIXED_COST_CORES cores, one worker."""
    variants = {"the default": (), "`--no-fsync`": ("--no-fsync",),
                "`--no-fsync --no-ct-log --no-unwrap`": ("--no-fsync",) + NO_ANALYSES}
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as scratch_name:
        scratch = Path(scratch_name)

        def ours(source: Path, options: Tuple[str, ...]) -> Callable[[], List[str]]:
            out = scratch / ("%s%s" % (source.name, "".join(options)))
            return lambda: (shutil.rmtree(out, ignore_errors=True),
                            CLI + [str(source), str(out), "--quiet", "--workers", "1"] + list(options))[1]
        one, many = CACHE / "tiny_1", CACHE / ("tiny_%d" % FIXED_COST_CORES)
        commands = {"imports": lambda: [PY, "-c", "import CoreBatchLoaderLib.cli"]}
        for name, options in variants.items():
            commands["one " + name], commands["many " + name] = ours(one, options), ours(many, options)
        median = interleaved(commands, rounds, None, "fixed costs")[0]["warm"]
    lines = ["### Start-up and per-core fixed cost (cores of two 64² slices, 1 worker, warm)", "",
             "- interpreter + imports (`python -c 'import CoreBatchLoaderLib.cli'`): %.3f s" % median["imports"],
             "", "| command | a whole run of one core (start-up, scan, 2 slices, manifest, thumbnail, report) "
             "| each further core (from %d cores) |" % FIXED_COST_CORES, "|---|---:|---:|"]
    for name in variants:
        per_core = (median["many " + name] - median["one " + name]) / (FIXED_COST_CORES - 1)
        lines.append("| %s | %.3f s | %.1f ms |" % (name, median["one " + name], 1000 * per_core))
    return "\n".join(lines + ["", "Targets: start-up to the first slice ≤ 0.15 s; per-core fixed cost ≤ 15 ms "
                                  "beyond its I/O.", ""])


FIXED_COST_CORES = 41


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--large-slices", type=int, default=1000)
    parser.add_argument("--well-cores", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help="only the data sets whose folder name starts so (batch, large, plain, well, real)")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.large_slices, args.well_cores)
        return 0
    CACHE.mkdir(exist_ok=True)
    if not Path(GNU_TIME).exists():
        print("bench needs GNU time for peak memory: apt-get install time", file=sys.stderr)
        return 2
    subprocess.run([PY, __file__, "--generate-only", "--large-slices", str(args.large_slices),
                    "--well-cores", str(args.well_cores)], check=True)
    data = {
        "Batch (%d cores × %d slices of 512², 12-bit → int16 HU)" % BATCH_SHAPE: CACHE / BATCH_NAME,
        "Large core (1 × %d slices of 512², unsigned 12-bit, intercept −1024 → int16 HU)"
        % args.large_slices: CACHE / ("large_%d" % args.large_slices),
        "Large core without rescale (1 × %d slices of 512², int16, slope 1, intercept 0)"
        % args.large_slices: CACHE / ("plain_%d" % args.large_slices),
        "Well (%d cores × 200 slices of 256², 12-bit → int16 HU)" % args.well_cores:
            CACHE / ("well_%d" % args.well_cores),
        "Lab-size core (133 mm × 900 mm at 0.5 mm: %d slices of 512², 12-bit → int16 HU)"
        % REAL_CORE_SLICES: CACHE / ("real_%d" % REAL_CORE_SLICES),
    }
    if args.only:
        data = {label: path for label, path in data.items() if any(path.name.startswith(o) for o in args.only)}
    header = ("Machine: %s, %d CPUs (shared with other work while measuring: floors and tools interleaved, so "
              "ratios stay fair), Python %s, %s. Median of %d interleaved rounds; warm = DICOM files in the page "
              "cache, cold = evicted before each run; peak RSS of the converting process.\n\n"
              % (platform.platform(), os.cpu_count() or 1, platform.python_version(), time.strftime("%Y-%m-%d %H:%M"),
                 args.rounds))
    text = header + run(data, args.rounds, args.workers) + "\n" + fixed_costs(args.rounds) + "\n" + gzip_table()
    args.output.write_text("# Benchmark results\n\n" + text)
    print(text)
    return 0


def gzip_table() -> str:
    """bench/gzip_choice.py's table: which deflate --compress uses, and why."""
    run = subprocess.run([PY, str(HERE / "gzip_choice.py")], capture_output=True, text=True)
    if run.returncode != 0:
        return "(gzip_choice.py failed: %s)\n" % run.stderr.strip().splitlines()[-1:]
    return "### The deflate for --compress (`bench/gzip_choice.py`)\n\n" + run.stdout


if __name__ == "__main__":
    sys.exit(main())
