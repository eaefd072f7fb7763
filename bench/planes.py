"""Benchmark: picking the planes against converting the same cores (issue 22: picking takes no
more time than converting did).

Run with `.venv/bin/python bench/planes.py` (not part of the test suite).  The well is the plane
picker's test well (:func:`CoreBatchLoaderLib.synthetic.plane_cores.plane_well`: four cores of
0.4 m, 800 slices of 220² at 0.5 mm, twelve planes, a nodule and a vug), generated once under
bench/.cache.  Over ``--rounds`` rounds, each warm (the files in the page cache), one worker and
``--no-fsync``:

- ``corebatchloader convert`` (the CT log and the unwrap on, as by default; depths from a table);
- ``corebatchloader planes`` on its output (picking, tables, pictures with the sinusoids, the
  tadpole track) — the whole step as a user runs it, process start included;
- the picker alone in this process (:func:`CoreBatchLoaderLib.planes.pick.pick_planes` per core,
  its unwrap already read).

Writes bench/planes.md and prints it: median wall and CPU seconds of each, and their ratios.
"""
from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))

import CoreBatchLoaderLib.cli  # noqa: E402,F401  (numpy with one OpenBLAS thread, as the command)
from CoreBatchLoaderLib.planes.pick import pick_planes  # noqa: E402
from CoreBatchLoaderLib.planes.sinusoid import read_unwrap  # noqa: E402
from CoreBatchLoaderLib.synthetic.plane_cores import plane_well, write_plane_well  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "planes"
COMMAND = [sys.executable, "-m", "CoreBatchLoaderLib.cli"]


def timed(command: List[str]) -> Tuple[float, float]:
    """(wall, CPU of the child) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=str(ROOT / "CoreBatchLoader"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = plane_well()
    well = CACHE / "in"
    if not well.is_dir():
        write_plane_well(well, cores)
    depths = CACHE / "depths.csv"
    depths.write_text("core,top,bottom,flip\n" + "".join(
        "%s,%r,%r,%d\n" % (name, 100 + 0.4 * n, 100.4 + 0.4 * n, core.flip) for n, (name, core) in enumerate(cores)))
    out = CACHE / "out"
    times: Dict[str, List[Tuple[float, float]]] = {"convert": [], "planes": [], "picker": []}
    for _ in range(args.rounds):
        shutil.rmtree(out, ignore_errors=True)
        times["convert"].append(timed(COMMAND + ["convert", str(well), str(out), "--workers", "1", "--no-fsync",
                                                 "--quiet", "--depths", str(depths)]))
        times["planes"].append(timed(COMMAND + ["planes", str(out), "--no-fsync"]))
        images = [read_unwrap(out / "unwrap" / ("%s_unwrap.nrrd" % name), name) for name, _ in cores]
        wall, cpu = time.perf_counter(), time.process_time()
        for image in images:
            pick_planes(image)
        times["picker"].append((time.perf_counter() - wall, time.process_time() - cpu))
    median = {key: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for key, v in times.items()}
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lines = [
        "# Picking the planes against converting the same cores",
        "",
        "`bench/planes.py`, %s, commit %s, %s, Python %s, %d rounds (median), one worker, `--no-fsync`, warm."
        % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), commit, platform.machine(), platform.python_version(),
           args.rounds),
        "The well: the picker's test well, 4 cores × 800 slices of 220² int16 at 0.5 mm (0.4 m each, 310 MB of "
        "voxels), 12 planes; unwraps of 800 rows × 352 columns (r = 28 mm).",
        "",
        "| step | wall (s) | CPU (s) | CPU / convert |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("convert", "`corebatchloader convert` (CT log, unwrap, report)"),
                       ("planes", "`corebatchloader planes` (pick, tables, pictures, tadpoles)"),
                       ("picker", "the picker alone, 4 unwraps in memory")):
        wall, cpu = median[key]
        lines.append("| %s | %.2f | %.2f | %.0f %% |" % (label, wall, cpu, 100.0 * cpu / median["convert"][1]))
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "planes.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
