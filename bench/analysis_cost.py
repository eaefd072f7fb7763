"""Benchmark: what the analyses measured while converting cost — the CT log and the unwrap.

Run with `.venv/bin/python bench/analysis_cost.py` (not part of the test suite).  Two data sets
of ``--slices`` slices of 0.5 mm at 512² and 0.26 mm (default 900: 450 mm of core), generated
once under bench/.cache:

- the lab-size core (a 133 mm core, 12-bit with RescaleIntercept −1024 → int16 HU): straight
  along the scan axis, so its unwrap's rings need no turning and its tilted circle is its slice;
- a tilted core in its liner (:mod:`CoreBatchLoaderLib.synthetic.dipping_beds`: a 110 mm core
  tilted 0.4°, lying off the liner's centre, crossed by dipping beds every 40 mm, 16-bit stored
  as HU, so the conversion runs at copy speed and an analysis weighs more beside it): the
  section is searched every 10 mm, most rings are turned to the fitted axis and the tilted
  circle mixes two slices — the unwrap's whole finish.

Four commands per data set, interleaved over ``--rounds`` rounds, each warm (the DICOM
files in the page cache) and cold (evicted first, as in a real batch), all with one worker and
``--no-fsync`` like the main table's "corebatchloader, 1 worker":

- neither analysis (``--no-ct-log --no-unwrap``): the conversion alone, the baseline;
- the unwrap alone (``--no-ct-log``): it pays the core's cross-section search too;
- the CT log alone (``--no-unwrap``);
- both (the default).

Writes bench/analysis_cost.md and prints it: a Markdown table (median wall and CPU seconds, the CPU
of warm and cold runs apart (a cold run adds the system CPU of its reads),
ratio to the baseline, peak RSS) and the unwrap's marginal cost (both against the CT log alone):
the cross-section search is shared, so that is what turning the unwrap on adds to a default run.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
import time
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run_bench import CACHE, CLI, GNU_TIME, _done, evict  # noqa: E402  (the main bench's helpers)

VARIANTS = {
    "neither (conversion only)": ["--no-ct-log", "--no-unwrap"],
    "unwrap only": ["--no-ct-log"],
    "CT log only": ["--no-unwrap"],
    "CT log + unwrap (default)": [],
}


def timed(command: List[str]) -> Tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, every thread) and peak RSS (MB) of a command.

    CPU time is what the analyses really cost: on a machine shared with other work the
    analyses' thread waits for a CPU, and wall time then measures the neighbours as much as us.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        run = subprocess.run([GNU_TIME, "-f", "%M %U %S", "-o", report.name] + command,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if run.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(command[:3]), run.stderr.decode()[-500:]))
        peak_kb, user, system = report.read().split()[-3:]
    return elapsed, float(user) + float(system), int(peak_kb) // 1024


LAB_SECTION = ("rows=512, columns=512, slice_spacing=0.5, pixel_spacing=(0.26, 0.26), signed=False, "
               "bits_stored=12, intercept=-1024.0")  # a 133 mm core at 0.26 mm, 12-bit → int16 HU
TILTED_CORE = ("rows=512, columns=512, pixel_spacing=(0.26, 0.26), core_radius_mm=55.0, tilt_deg=0.4, "
               "dip_deg=30.0, bed_spacing_mm=40.0")  # 0.4°: over 450 mm the core moves 3 mm in its liner


def generate_tilted(slices: int) -> Path:
    folder = CACHE / ("analysis_tilted_%d" % slices)
    return generated(folder, "a tilted %d-slice core in its liner" % slices,
                     "write_dipping_bed_core(%r, slices=%d, %s)" % (str(folder / "core"), slices, TILTED_CORE))


def generate(slices: int) -> Path:
    folder = CACHE / ("analysis_%d" % slices)
    return generated(folder, "a %d-slice core" % slices,
                     "write_core_series(%r, slices=%d, %s)" % (str(folder / "core"), slices, LAB_SECTION))


def generated(folder: Path, what: str, call: str) -> Path:
    """``folder``, written once by ``call`` (a call of a CoreBatchLoaderLib.synthetic function)
    in a child process, so this one stays small."""
    if not _done(folder).exists():
        shutil.rmtree(folder, ignore_errors=True)
        print("generating %s…" % what, flush=True)
        code = ("import sys; sys.path.insert(0, %r); from CoreBatchLoaderLib.synthetic import *; "
                "from CoreBatchLoaderLib.synthetic.dipping_beds import write_dipping_bed_core; %s"
                % (str(HERE.parent / "CoreBatchLoader"), call))
        subprocess.run([sys.executable, "-c", code], check=True)
        _done(folder).write_text("ok")
    return folder


def in_process(source: Path, slices: int, rounds: int) -> List[str]:
    """The same four runs in this process, warm: the conversion's CPU without the start-up the
    separate runs pay (~0.3 s of 0.7 s), and the analyses' own CPU, ``time.process_time`` around
    ``SliceAnalyses.add_slice`` (per slice: the section, the CT log's samples, the unwrap's ring),
    ``SliceAnalyses.finish`` (per core: the axis, the CSV, the unwrap's finish and file), the
    unwrap's picture (the PNG the worker draws beside its file) and the core's surroundings
    (``convert.sample_slices``: its 9 slices read, and ``SliceAnalyses.decide``), counted with the
    finish.  (The CT log's profile, an SVG the report draws at the end, is not counted.)"""
    import contextlib
    import io
    from CoreBatchLoaderLib.cli import main as cli_main  # first: numpy loads as the command loads it
    from CoreBatchLoaderLib.analysis.slices import SliceAnalyses
    from CoreBatchLoaderLib import convert
    from CoreBatchLoaderLib.report import page

    spent = {"add_slice": 0.0, "finish": 0.0}
    hooked = {"add_slice": (SliceAnalyses, "add_slice"), "finish": (SliceAnalyses, "finish"),
              "picture": (page, "_unwrap_picture"), "samples": (convert, "sample_slices"),
              "decide": (SliceAnalyses, "decide")}
    originals = {name: getattr(*where) for name, where in hooked.items()}

    def timing(name: str):
        counted = name if name in ("add_slice", "finish") else "finish"  # per core

        def timed(*args):
            start = time.process_time()
            try:
                return originals[name](*args)
            finally:
                spent[counted] += time.process_time() - start
        return timed

    cpu: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    hook: Dict[str, List[Tuple[float, float]]] = {name: [] for name in VARIANTS}
    try:
        for name, (owner, attribute) in hooked.items():
            setattr(owner, attribute, timing(name))  # on the class: called as a method, self first
        with tempfile.TemporaryDirectory(prefix="cbl-analysis-") as scratch:
            for _ in range(rounds):
                for name, flags in VARIANTS.items():
                    out = Path(tempfile.mkdtemp(dir=scratch))  # fresh: no manifest of an earlier run
                    spent.update(add_slice=0.0, finish=0.0)
                    start = time.process_time()
                    with contextlib.redirect_stdout(io.StringIO()):
                        status = cli_main(["convert", str(source), str(out), "--workers", "1", "--quiet",
                                           "--no-fsync"] + flags)
                    cpu[name].append(time.process_time() - start)
                    if status != 0:
                        raise RuntimeError("convert %s failed in process (status %s)" % (name, status))
                    shutil.rmtree(out)
                    hook[name].append((spent["add_slice"], spent["finish"]))
    finally:
        for name, (owner, attribute) in hooked.items():
            setattr(owner, attribute, originals[name])
    base = statistics.median(cpu["neither (conversion only)"])
    lines = ["", "In one process (warm, no start-up), medians of %d interleaved rounds:" % rounds, "",
             "| run | CPU s | × conversion | analyses µs per slice | analyses' finish ms "
             "| analyses ÷ conversion alone |", "|---|---:|---:|---:|---:|---:|"]
    for name in VARIANTS:
        per_slice = statistics.median(a for a, _ in hook[name])
        at_end = statistics.median(f for _, f in hook[name])
        lines.append("| %s | %.3f | %.3f | %.0f | %.1f | %.3f |" % (
            name, statistics.median(cpu[name]), statistics.median(cpu[name]) / base, per_slice / slices * 1e6,
            at_end * 1e3, (per_slice + at_end) / base))
    # the unwrap's own part, round by round (the rounds interleave the runs): the default's
    # analyses less the CT log's
    pairs = list(zip(hook["CT log + unwrap (default)"], hook["CT log only"]))
    ring = statistics.median(both[0] - log[0] for both, log in pairs)
    finish = statistics.median(both[1] - log[1] for both, log in pairs)
    whole = statistics.median(sum(both) - sum(log) for both, log in pairs)
    lines += ["", "The unwrap's own CPU (the default's analyses less the CT log's, round by round): %.0f µs a "
              "slice and %.1f ms at the end of the core, **%.1f %% of the conversion alone**."
              % (ring / slices * 1e6, finish * 1e3, 100.0 * whole / base)]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=900)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-process-rounds", type=int, default=9,
                        help="rounds of the in-process table (cheap; its percentages swing ±2 points over 5)")
    args = parser.parse_args()
    lines: List[str] = []
    for title, source in (
            ("1 core × %d slices of 512², 12-bit → int16 HU" % args.slices, generate(args.slices)),
            ("a core tilted 0.4° in its liner, %d slices of 512², int16 HU" % args.slices,
             generate_tilted(args.slices))):
        lines += measure(title, source, args.slices, args.rounds, args.in_process_rounds) + [""]
    lines.append("Medians of interleaved rounds; %s." % machine())
    publish("analysis_cost.md", lines)
    return 0


def measure(title: str, source: Path, slices: int, rounds: int, in_process_rounds: int) -> List[str]:
    """The four runs on one data set, in separate processes (warm and cold) and in this one."""
    size_mb = sum(p.stat().st_size for p in source.rglob("*.dcm")) / 1e6
    times: Dict[str, Dict[str, List[float]]] = {
        name: {"warm": [], "cold": [], "cpu warm": [], "cpu cold": []} for name in VARIANTS}
    rss: Dict[str, List[int]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="cbl-analysis-") as scratch:
        for round_number in range(rounds):
            for name, flags in VARIANTS.items():
                for state in ("warm", "cold"):
                    out = Path(scratch) / "out"
                    shutil.rmtree(out, ignore_errors=True)
                    subprocess.run(["sync"], check=False)
                    if state == "cold":
                        evict(source)
                    else:
                        subprocess.run(["cat"] + [str(p) for p in sorted(source.rglob("*.dcm"))],
                                       stdout=subprocess.DEVNULL, check=True)
                    seconds, cpu, peak = timed(CLI + [str(source), str(out), "--workers", "1", "--quiet",
                                                      "--no-fsync"] + flags)
                    times[name][state].append(seconds)
                    times[name]["cpu " + state].append(cpu)  # apart: a cold run's reads add system CPU
                    rss[name].append(peak)
            print("%s: round %d/%d done" % (title, round_number + 1, rounds), file=sys.stderr, flush=True)
    median = {name: {state: statistics.median(values) for state, values in by.items()} for name, by in times.items()}
    base = median["neither (conversion only)"]
    lines = ["### Analyses while converting (%s) — %d files, %.0f MB" % (title, slices, size_mb), "",
             "Separate runs as a user starts them, medians of %d interleaved rounds:" % rounds, "",
             "| run | warm s | × conversion | cold s | × conversion | CPU s warm | × conversion "
             "| CPU s cold | × conversion | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in VARIANTS:
        m = median[name]
        lines.append("| %s | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.3f | %.3f | %d |" % (
            name, m["warm"], m["warm"] / base["warm"], m["cold"], m["cold"] / base["cold"],
            m["cpu warm"], m["cpu warm"] / base["cpu warm"], m["cpu cold"], m["cpu cold"] / base["cpu cold"],
            max(rss[name])))
    lines += in_process(source, slices, in_process_rounds)
    log, both = median["CT log only"], median["CT log + unwrap (default)"]
    lines += ["", "The unwrap on top of the CT log (what it adds to a default run): warm ×%.3f, cold ×%.3f, "
              "CPU ×%.3f warm, ×%.3f cold; alone (with its own cross-section search): warm ×%.3f, cold ×%.3f, "
              "CPU ×%.3f warm, ×%.3f cold."
              % (both["warm"] / log["warm"], both["cold"] / log["cold"], both["cpu warm"] / log["cpu warm"],
                 both["cpu cold"] / log["cpu cold"],
                 median["unwrap only"]["warm"] / base["warm"], median["unwrap only"]["cold"] / base["cold"],
                 median["unwrap only"]["cpu warm"] / base["cpu warm"],
                 median["unwrap only"]["cpu cold"] / base["cpu cold"])]
    return lines


def machine() -> str:
    """The machine and its load, for a result's last line."""
    return "%s, %d CPUs, Python %s; load average at the end %s" % (
        platform.platform(), os.cpu_count() or 1, platform.python_version(),
        " ".join("%.1f" % v for v in os.getloadavg()))


def publish(name: str, lines: List[str]) -> None:
    """Print the result and write it to bench/``name`` (replaced: add notes by hand after a run)."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
