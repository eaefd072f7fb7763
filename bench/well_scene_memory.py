"""Benchmark: peak memory while building the whole-well scene of a long well, and while opening it.

    .venv/bin/python bench/well_scene_memory.py [--cores 100] [--size 128] [--slices 400]
                                                [--budget 256MiB] [--compress] [--work DIR]

Writes a synthetic converted well (``--cores`` NRRD cores of ``--size``² × ``--slices`` int16
voxels, 0.9 m each, back to back from 2450 m with a gap every tenth core, a manifest and the
depths) — no DICOM, the conversion is measured by ``bench/run_bench.py`` — then, each in a fresh
process:

1. **build**: ``well_layout.build_layout`` + ``well_scene.write_scene`` (what ``convert --scene``
   does after converting): placed headers, proxies, overview, well strip, ``scene.mrml``;
2. **open**: a fresh ``vtkMRMLScene`` imports ``scene.mrml`` and reads every volume, as Slicer
   does when it opens the scene: what the budget is for.

Memory is the process's own high-water mark, ``VmHWM`` in ``/proc/self/status``, read before
and after the step (``ru_maxrss`` is no good here: Linux carries it over from the parent through
fork and exec).  Never part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))

CORE_LENGTH_M = 0.9


def high_water_kb() -> int:
    """Peak resident set of this process so far (kB), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def write_converted_well(out: Path, cores: int, size: int, slices: int, compress: bool) -> Path:
    """NRRD cores as the converter writes them, their manifest records and a depth table."""
    import numpy as np
    from CoreBatchLoaderLib.batch.manifest import write_manifest
    from CoreBatchLoaderLib.nrrd.writer import NrrdStreamWriter
    from CoreBatchLoaderLib.record import CoreRecord

    out.mkdir(parents=True)
    spacing = (133.0 / size, 133.0 / size, CORE_LENGTH_M * 1000.0 / slices)
    yy, xx = np.mgrid[0:size, 0:size]
    disc = (xx - size / 2 + 0.5) ** 2 + (yy - size / 2 + 0.5) ** 2 < (0.45 * size) ** 2
    noise = np.random.default_rng(0).normal(0, 60, size=(size, size))
    records, rows = [], []
    top = 2450.0
    for n in range(cores):
        name = "core_%03d" % (n + 1)
        with NrrdStreamWriter(out / (name + ".nrrd"), nrrd_type="short", sizes=(size, size, slices),
                              space_directions=[(spacing[0], 0, 0), (0, spacing[1], 0), (0, 0, spacing[2])],
                              space_origin=(0.0, 0.0, 0.0), compress=compress, durable=False) as writer:
            for k in range(slices):
                layer = 2100 + 500 * np.sin((n * slices + k) / 37.0)
                writer.write_slice(np.where(disc, layer + np.roll(noise, k, axis=1), -1000).astype(np.int16))
            writer.commit()
        records.append(CoreRecord(name=name, source=str(out / "dicom" / name), status="converted",
                                  output=name + ".nrrd", dimensions=[size, size, slices], spacing=list(spacing),
                                  type="int16", bytes=size * size * slices * 2))
        rows.append("%s,%r,%r\n" % (name, top, top + CORE_LENGTH_M))
        top += CORE_LENGTH_M + (0.35 if n % 10 == 9 else 0.0)  # a lost interval now and then
    write_manifest(out, records)
    (out / "depths.csv").write_text("core,top,bottom\n" + "".join(rows))
    return out


def build(out: Path, budget: int) -> dict:
    """Child process: the scene-building step of ``convert --scene``."""
    import slicer  # noqa: F401  (imported before the baseline: its libraries are not the build's memory)
    from CoreBatchLoaderLib.batch.manifest import read_manifest
    from CoreBatchLoaderLib.mrml.well import write_scene
    from CoreBatchLoaderLib.well.depths import read_depth_table
    from CoreBatchLoaderLib.well.layout import build_layout

    records = read_manifest(out)
    depths = read_depth_table(out / "depths.csv", [r.name for r in records])
    before = high_water_kb()
    started = time.perf_counter()
    layout = build_layout(out, records, depths, budget, "bench well", durable=False)
    write_scene(out, layout)
    return {"seconds": time.perf_counter() - started, "before_kb": before, "peak_kb": high_water_kb(),
            "factor": layout.factor, "fits": layout.fits, "overview_mm": layout.overview_voxel_mm,
            "scene_bytes": sum(c.bytes for c in layout.cores) + layout.overview_bytes}


def open_scene(out: Path) -> dict:
    """Child process: Slicer's MRML opens the scene and reads every volume."""
    import slicer
    scene = slicer.vtkMRMLScene()
    before = high_water_kb()
    started = time.perf_counter()
    scene.SetURL(str(out / "scene.mrml"))
    ok = scene.Import()
    volumes = scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    loaded = sum(scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode").GetImageData() is not None
                 for n in range(volumes))
    return {"seconds": time.perf_counter() - started, "before_kb": before, "peak_kb": high_water_kb(),
            "imported": bool(ok), "volumes": volumes, "loaded": loaded}


def child(step: str, out: Path, budget: int) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", step, "--work", str(out), "--budget", str(budget)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (step, run.stderr[-3000:]))
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    from CoreBatchLoaderLib.well.proxies import parse_size
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=100)
    parser.add_argument("--size", type=int, default=128, help="rows and columns per slice")
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--budget", type=parse_size, default=parse_size("256MiB"))
    parser.add_argument("--compress", action="store_true", help="gzip the cores (proxies then stream gzip)")
    parser.add_argument("--work", type=Path, help="where the well goes (default: a temporary folder, removed)")
    parser.add_argument("--child", choices=("build", "open"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(build(args.work, args.budget) if args.child == "build" else open_scene(args.work)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="well-scene-bench-"))
    out = work / "out"
    try:
        started = time.perf_counter()
        write_converted_well(out, args.cores, args.size, args.slices, args.compress)
        data = args.cores * args.size * args.size * args.slices * 2
        print("well: %d cores of %d² × %d int16 = %.0f MB of voxels%s (written in %.0f s); budget %.0f MiB"
              % (args.cores, args.size, args.slices, data / 1e6, ", gzip" if args.compress else "",
                 time.perf_counter() - started, args.budget / 2 ** 20))
        built = child("build", out, args.budget)
        opened = child("open", out, args.budget)
        mib = 1024.0
        print("build: %.1f s, proxy factor %d, overview voxel %.3g mm; peak RSS %.0f MiB (%.0f MiB above the "
              "imports)" % (built["seconds"], built["factor"], built["overview_mm"], built["peak_kb"] / mib,
                            (built["peak_kb"] - built["before_kb"]) / mib))
        print("open : %.1f s, %d of %d volumes read; peak RSS %.0f MiB (%.0f MiB above `import slicer`); "
              "voxels in the scene %.0f MiB, budget %.0f MiB"
              % (opened["seconds"], opened["loaded"], opened["volumes"], opened["peak_kb"] / mib,
                 (opened["peak_kb"] - opened["before_kb"]) / mib, built["scene_bytes"] / 2 ** 20,
                 args.budget / 2 ** 20))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
