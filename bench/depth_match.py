"""Benchmark: the depth match (issue 21) — the matcher's time on a 100-core well, and what applying
its shifts costs against the first conversion.

Run with `.venv/bin/python bench/depth_match.py` (not part of the test suite); writes
bench/depth_match.md and prints it.

1. **The matcher.**  A synthetic logged well (:mod:`CoreBatchLoaderLib.synthetic.logged_well`) of
   ``--cores`` ~1 m cores with 1 mm slices (~1,000 rows of CT log a core, as a real scan gives),
   written as ``convert`` leaves it (the CT logs, the manifest, ``well_ct_log.las``: Testing's
   logged_output), the wireline every 6 in; the solver alone (``match_cores``) and the whole
   ``depth-match`` command (reading every log, solving, writing the five files), median of
   ``--rounds``.
2. **Applying the shifts.**  A DICOM well of ``--apply-cores`` cores cut from the same kind of
   formation (``--slices`` slices of 1 mm at ``--size``² pixels, 16-bit), converted with the
   driller's depths (the first conversion), matched, then converted again with
   ``depth_match/depths_log.csv``: every core is skipped (the fingerprint holds the flips, not the
   intervals), the unwraps' headers are restamped, the CT logs, LAS, pictures, scene and report
   redone.  Each command in its own process, one worker, ``--no-fsync``; wall and CPU seconds
   (user + system of the child), with and without ``--scene`` (the scene's overview and strip
   placed from each core's parts kept by the first build, ``scene/<core>_parts.npz``: no volume read).
"""
from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))
sys.path.insert(0, str(ROOT / "Testing"))

import numpy as np  # noqa: E402

from CoreBatchLoaderLib.depth_match.solver import CoreLogInput, match_cores  # noqa: E402
from CoreBatchLoaderLib.synthetic.logged_well import logged_well  # noqa: E402
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, write_phantom  # noqa: E402
from logged_output import write_output, write_wireline  # noqa: E402

PY = sys.executable
CLI = [PY, "-m", "CoreBatchLoaderLib.cli"]


def child(command: List[str]) -> Tuple[float, float]:
    """Wall and CPU seconds (user + system) of a command run to the end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={"PYTHONPATH": str(ROOT / "CoreBatchLoader"), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(command), done.returncode, done.stderr[-2000:]))
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def matcher(cores: int, rounds: int, work: Path) -> Dict[str, object]:
    well = logged_well(cores=cores, seed=7, slice_mm=1.0, lost_run=(cores // 2, 2))
    inputs = [CoreLogInput(c.name, c.top_m, c.bottom_m, c.depth_m, c.hu) for c in well.cores]
    solver = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = match_cores(inputs, well.wireline_depth_m, well.rhob)
        solver.append(time.perf_counter() - started)
    error = np.abs([s.shift_m - c.shift_m for s, c in zip(result.shifts, well.cores)])
    write_output(work / "out", well)
    las = write_wireline(work / "wireline.las", well)
    command = [child(CLI + ["depth-match", str(work / "out"), "--log", str(las), "--curve", "RHOB", "--no-fsync",
                            "--quiet"]) for _ in range(rounds)]
    return {"cores": len(well.cores), "rows": sum(len(c.hu) for c in well.cores), "solver": statistics.median(solver),
            "command_wall": statistics.median(c[0] for c in command),
            "command_cpu": statistics.median(c[1] for c in command),
            "max_error": float(error.max()), "median_error": float(np.median(error))}


def dicom_well(root: Path, cores: int, slices: int, size: int) -> Path:
    well = logged_well(cores=cores, seed=11, slice_mm=1.0, lost_run=(0, 0), featureless=None, gapped=None)
    base = CorePhantom(rows=size, columns=size, pixel_spacing=(0.5, 0.5), slice_spacing=1.0,
                       diameter_mm=0.8 * size * 0.5, noise_hu=20.0)
    lines = ["core,top,bottom"]
    for n, core in enumerate(well.cores):
        hu = core.hu[:slices]
        layers = tuple(Layer(1.0, float(np.round(v))) for v in hu)
        write_phantom(root / "in" / core.name, replace(base, slices=len(hu), layers=layers, seed=n + 1))
        lines.append("%s,%.4f,%.4f" % (core.name, core.top_m, core.top_m + len(hu) / 1000.0))
    (root / "driller.csv").write_text("\n".join(lines) + "\n")
    write_wireline(root / "wireline.las", well)
    return root


def apply_cost(cores: int, slices: int, size: int, rounds: int, work: Path) -> Dict[str, Tuple[float, float, float, float]]:
    root = dicom_well(work / "dicom", cores, slices, size)
    results = {}
    for label, scene in (("without --scene", []), ("with --scene", ["--scene"])):
        first, apply = [], []
        for n in range(rounds):
            out = work / ("out-%d-%s" % (n, "scene" if scene else "plain"))
            first.append(child(CLI + ["convert", str(root / "in"), str(out), "--workers", "1", "--no-fsync", "--quiet",
                                      "--depths", str(root / "driller.csv")] + scene))
            child(CLI + ["depth-match", str(out), "--log", str(root / "wireline.las"), "--curve", "RHOB",
                         "--no-fsync", "--quiet"])
            apply.append(child(CLI + ["convert", str(root / "in"), str(out), "--workers", "1", "--no-fsync", "--quiet",
                                      "--depths", str(out / "depth_match" / "depths_log.csv")] + scene))
            shutil.rmtree(out)
        results[label] = (statistics.median(f[0] for f in first), statistics.median(f[1] for f in first),
                          statistics.median(a[0] for a in apply), statistics.median(a[1] for a in apply))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--apply-cores", type=int, default=6)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="depthmatch-bench-") as temporary:
        work = Path(temporary)
        match = matcher(args.cores, args.rounds, work / "matcher")
        apply = apply_cost(args.apply_cores, args.slices, args.size, args.rounds, work / "apply")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lines = ["# Depth match: the matcher's time and the cost of applying its shifts", "",
             "`bench/depth_match.py`, %s UTC, commit %s, %s, Python %s, %d CPUs shared with other work; median of %d "
             "rounds." % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), commit, platform.machine(),
                          platform.python_version(), __import__("os").cpu_count() or 1, args.rounds), "",
             "## The matcher on a %d-core well" % match["cores"], "",
             "| what | seconds |", "|---|---|",
             "| the solver alone (`match_cores`: %d cores, %d CT-log rows, 1 cm shift grid over ±1.5 m) | %.2f |" % (
                 match["cores"], match["rows"], match["solver"]),
             "| the `depth-match` command, wall (reading the logs, solving, writing the five files) | %.2f |" % (
                 match["command_wall"]),
             "| the same, CPU | %.2f |" % match["command_cpu"], "",
             "Its shifts against the truth: largest error %.3f m, median %.3f m." % (
                 match["max_error"], match["median_error"]), "",
             "## Applying the shifts against the first conversion", "",
             "%d DICOM cores of %d slices, %d² pixels (16-bit), one worker, `--no-fsync`: the first conversion with the "
             "driller's depths, then `convert --depths depth_match/depths_log.csv` after `depth-match`." % (
                 args.apply_cores, args.slices, args.size), "",
             "| run | first conversion wall / CPU s | applying the shifts wall / CPU s | apply / first (CPU) |",
             "|---|---|---|---|"]
    for label, (first_wall, first_cpu, apply_wall, apply_cpu) in apply.items():
        lines.append("| %s | %.2f / %.2f | %.2f / %.2f | %.0f %% |" % (label, first_wall, first_cpu, apply_wall, apply_cpu,
                                                                     100.0 * apply_cpu / first_cpu))
    text = "\n".join(lines) + "\n"
    (HERE / "depth_match.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
