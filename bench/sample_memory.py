"""Benchmark: peak memory of ``corebatchloader sample`` against the well's size (issue 20 item 5:
20 cores × 400 slices of 256² under 150 MB).

Run with `.venv/bin/python bench/sample_memory.py` (not part of the test suite, which checks the
same bound on a well of 20 × 40 slices in Testing/test_sample.py: the full well takes minutes).
Peak RSS from GNU time (``%M``); writes bench/sample_memory.md and prints it.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from analysis_cost import machine, publish, timed  # noqa: E402
from run_bench import PY  # noqa: E402

TARGET_MB = 150
WELLS = [(1, 2, 256), (20, 40, 256), (20, 400, 256)]  # cores, slices, size


def main() -> int:
    lines = ["### Peak RSS of `corebatchloader sample` against the well's size (target < %d MB)" % TARGET_MB, "",
             "| cores × slices × size² | pixels written | peak RSS (MB) | CPU (s) | wall (s) |",
             "|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="cbl-sample-") as scratch:
        for cores, slices, size in WELLS:
            folder = Path(scratch) / ("%d_%d_%d" % (cores, slices, size))
            wall, cpu, peak = timed([PY, "-m", "CoreBatchLoaderLib.cli", "sample", str(folder), "--cores", str(cores),
                                     "--slices", str(slices), "--size", str(size)])
            lines.append("| %d × %d × %d² | %.0f MB | %d | %.1f | %.1f |" % (
                cores, slices, size, cores * slices * size * size * 2 / 1e6, peak, cpu, wall))
            print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", machine() + "."]
    publish("sample_memory.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
