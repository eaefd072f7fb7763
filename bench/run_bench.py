"""Benchmark: CoreBatchLoader against the tools users would pick instead, with `cat` as the floor.

Run with `make bench` (installs the peers into .venv first).  Never part of the test suite.

Data (generated once, cached under bench/.cache): one large core (1,000 slices of 512×512,
unsigned 12-bit with RescaleIntercept −1024, so the rescale must really be applied; ~500 MB), the
same without rescale (for `--format nhdr`), a well of 20 smaller cores, and a core of the size the
labs scan (133 mm × 900 mm at 0.5 mm: 1,800 slices of 512², 0.94 GB).  Every command runs in its
own process, interleaved over several rounds (so drifting cache or CPU state hits every tool
alike), each after `sync` so no tool pays for the previous one's writes.  Each command runs twice
a round: warm (the DICOM files in the page cache: the cost of the program itself) and cold (the
DICOM files evicted from the page cache with posix_fadvise(DONTNEED) first, as they are in a real
run over hundreds of GB: the cost a user sees).  The table reports the median wall times, their
ratio to `cat` of the same files in the same state, and the peak RSS of the process (GNU time).

Writes bench/results.md (a Markdown table and the machine it ran on) and prints it.
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
from typing import Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))

PY = sys.executable
CLI = [PY, "-m", "CoreBatchLoaderLib.cli", "convert"]


REAL_CORE_SLICES = 1800  # 900 mm of core at 0.5 mm


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
    """name → function returning a fresh command (each run writes into an empty folder)."""
    files = sorted(str(p) for p in source.rglob("*.dcm"))
    core_folders = sorted({str(Path(f).parent) for f in files})

    def fresh(name: str) -> Path:
        folder = scratch / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def cat() -> List[str]:
        out = fresh("cat")
        return ["sh", "-c", 'for d in "$@"; do cat "$d"/*.dcm > %s/"$(basename "$d")".raw; done' % out, "cat"]\
            + core_folders

    def cat_parallel() -> List[str]:
        """N shell loops at once, each over its share of the folders: the floor for N workers."""
        out = fresh("catn")
        loop = 'for d in "$@"; do cat "$d"/*.dcm > %s/"$(basename "$d")".raw; done' % out
        shares = [core_folders[n::workers] for n in range(workers)]
        script = " ".join("sh -c '%s' cat %s &" % (loop, " ".join(shlex.quote(f) for f in share))
                          for share in shares)
        return ["sh", "-c", script + " wait"]

    commands: Dict[str, Callable[[], List[str]]] = {
        "cat (floor)": cat,
        "corebatchloader, 1 worker": lambda: CLI + [str(source), str(fresh("cbl1")), "--workers", "1", "--quiet",
                                                    "--no-fsync"],
        "corebatchloader, 1 worker, fsync": lambda: CLI + [str(source), str(fresh("cbl1f")), "--workers", "1",
                                                           "--quiet"],
        # the CT log (#12) and the unwrap (#13) are measured while converting; these two rows give
        # the CT log's cost: with it alone, and with no analysis at all
        "corebatchloader, 1 worker, --no-unwrap (CT log only)": lambda: CLI + [
            str(source), str(fresh("cbl1l")), "--workers", "1", "--quiet", "--no-fsync", "--no-unwrap"],
        "corebatchloader, 1 worker, --no-ct-log --no-unwrap": lambda: CLI + [
            str(source), str(fresh("cbl1n")), "--workers", "1", "--quiet", "--no-fsync", "--no-ct-log", "--no-unwrap"],
        "corebatchloader, %d workers" % workers: lambda: CLI + [str(source), str(fresh("cbln")), "--workers",
                                                               str(workers), "--quiet", "--no-fsync"],
    }
    if len(core_folders) >= workers > 1:
        commands["%d × cat in parallel (floor for %d workers)" % (workers, workers)] = cat_parallel
        for count in (1, workers):  # gzip is CPU-bound: where more workers must pay off
            commands["corebatchloader --compress, %d worker%s" % (count, "s" if count > 1 else "")] = \
                lambda count=count: CLI + [str(source), str(fresh("gz%d" % count)), "--workers", str(count),
                                           "--quiet", "--no-fsync", "--compress"]
    if "plain" in source.name:  # exact as .nhdr: the zero-copy header against the copying conversion
        commands["corebatchloader --format nhdr"] = lambda: CLI + [str(source), str(fresh("nhdr")), "--workers",
                                                                   "1", "--quiet", "--format", "nhdr", "--no-fsync"]
    dcm2niix = shutil.which("dcm2niix") or str(Path(PY).parent / "dcm2niix")
    if Path(dcm2niix).exists():
        commands["dcm2niix -e y (NRRD)"] = lambda: ["sh", "-c", 'for d in "$@"; do %s -e y -z n -b n -o %s -f '
                                                    '"$(basename "$d")" "$d"; done' % (dcm2niix, fresh("dcm2niix")),
                                                    "dcm2niix"] + core_folders
    if _importable("SimpleITK"):
        commands["SimpleITK series → NRRD"] = lambda: [PY, str(HERE / "peers.py"), "simpleitk",
                                                      str(fresh("sitk"))] + core_folders
    if _importable("slicer"):
        commands["Slicer reader + NRRD storage node"] = lambda: [PY, str(HERE / "peers.py"), "slicer",
                                                                str(fresh("slicer"))] + core_folders
    return commands


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


def run(data: Dict[str, Path], rounds: int, workers: int) -> str:
    lines = ["Machine: %s, %d CPUs, Python %s, %s. Median of %d interleaved rounds; warm = DICOM files in "
             "the page cache, cold = evicted before each run; peak RSS of the converting process."
             % (platform.platform(), os.cpu_count() or 1, platform.python_version(), time.strftime("%Y-%m-%d"),
                rounds), ""]
    env_path = str(ROOT / "CoreBatchLoader")
    os.environ["PYTHONPATH"] = env_path + os.pathsep + os.environ.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as scratch_name:
        scratch = Path(scratch_name)
        for label, source in data.items():
            size = sum(p.stat().st_size for p in source.rglob("*.dcm"))
            count = sum(1 for _ in source.rglob("*.dcm"))
            peers = peers_for(source, scratch, workers)
            times = {mode: {name: [] for name in peers} for mode in MODES}  # type: Dict[str, Dict[str, List[float]]]
            memory: Dict[str, int] = {name: 0 for name in peers}
            for command in peers.values():  # warm the page cache and the imports
                timed(command())
                break
            for round_number in range(rounds):
                for name, command in peers.items():
                    for mode in MODES:
                        argv = command()  # empties the tool's output folder (before the sync)
                        if mode == "cold":
                            evict(source)
                        os.sync()
                        seconds, rss = timed(argv)
                        times[mode][name].append(seconds)
                        memory[name] = max(memory[name], rss)
                print("  %s: round %d/%d done" % (label, round_number + 1, rounds), flush=True)
            floor = {mode: statistics.median(times[mode]["cat (floor)"]) for mode in MODES}
            lines += ["### %s — %d files, %.0f MB" % (label, count, size / 1e6), "",
                      "| tool | warm s | × cat | cold s | × cat | cold MB/s | peak RSS MB |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for name in peers:
                warm, cold = (statistics.median(times[mode][name]) for mode in MODES)
                lines.append("| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %d |" % (
                    name, warm, warm / floor["warm"], cold, cold / floor["cold"], size / 1e6 / cold, memory[name]))
            rate = header_scan_rate(source)
            lines += ["", "Header scan alone (discovery + grouping, no pixels, warm): %.0f files/s." % rate, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--large-slices", type=int, default=1000)
    parser.add_argument("--well-cores", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
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
    large, well = CACHE / ("large_%d" % args.large_slices), CACHE / ("well_%d" % args.well_cores)
    plain = CACHE / ("plain_%d" % args.large_slices)
    table = run({"Large core (1 × %d slices of 512², unsigned 12-bit, intercept −1024 → int16 HU)"
                 % args.large_slices: large,
                 "Large core without rescale (1 × %d slices of 512², int16, slope 1, intercept 0)"
                 % args.large_slices: plain,
                 "Well (%d cores × 200 slices of 256², 12-bit → int16 HU)" % args.well_cores: well,
                 "Lab-size core (133 mm × 900 mm at 0.5 mm: %d slices of 512², 12-bit → int16 HU)"
                 % REAL_CORE_SLICES: CACHE / ("real_%d" % REAL_CORE_SLICES)},
                args.rounds, args.workers)
    args.output.write_text("# Benchmark results\n\n" + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
