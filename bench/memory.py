"""Benchmark: peak memory of a conversion process against the core's length (issue 11 item 5,
issue 13: ≤ 64 MB whatever the core's length, with the defaults).

Run with `.venv/bin/python bench/memory.py` (not part of the test suite).  Data, generated once
under bench/.cache: the lab cross-section (512² at 0.26 mm: a 133 mm core, 12-bit with
RescaleIntercept −1024 → int16 HU) at 0.5 mm a slice, as single cores of ``--lengths`` slices
(default 300, 1800 — the lab's 900 mm core — and 3600), and a well of 8 cores × 300 slices run
with one worker (what one process keeps from core to core).  Each command is the default
(fsync, CT log, unwrap) and the conversion alone (``--no-ct-log --no-unwrap``), plus the
interpreter with the engine imported, over ``--rounds`` rounds.

Peak RSS from GNU time (``%M``, the largest resident set of the process and the children it
waited for; MB rounded down): unlike wall time it does not depend on the machine's load.  Writes bench/memory.md
and prints it.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from analysis_cost import LAB_SECTION, generate, generated, machine, publish, timed  # noqa: E402
from run_bench import CACHE, CLI, PY, ROOT  # noqa: E402

TARGET_MB = 64
WELL = (8, 300)  # cores × slices, converted by one worker
VARIANTS = {"default (fsync, CT log, unwrap)": [], "conversion alone (--no-ct-log --no-unwrap)": ["--no-ct-log", "--no-unwrap"]}


def generate_well() -> Path:
    folder = CACHE / ("memory_well_%dx%d" % WELL)
    return generated(folder, "a well of %d cores × %d slices" % WELL,
                     "write_well(%r, cores=%d, slices=%d, %s)" % (str(folder), WELL[0], WELL[1], LAB_SECTION))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[300, 1800, 3600])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = {"1 core × %d slices (%d mm)" % (n, n // 2): generate(n) for n in args.lengths}
    data["well: %d cores × %d slices, 1 worker" % WELL] = generate_well()
    peaks: Dict[str, Dict[str, List[float]]] = {label: {name: [] for name in VARIANTS} for label in data}
    imports: List[float] = []
    with tempfile.TemporaryDirectory(prefix="cbl-memory-") as scratch:
        for round_number in range(args.rounds):
            imports.append(timed([PY, "-c", "import sys; sys.path.insert(0, %r); import CoreBatchLoaderLib.cli"
                                  % str(ROOT / "CoreBatchLoader")])[2])
            for label, source in data.items():
                for name, flags in VARIANTS.items():
                    out = Path(scratch) / "out"
                    shutil.rmtree(out, ignore_errors=True)
                    workers = ["--workers", "1"] if "1 worker" in label else []
                    peaks[label][name].append(timed(CLI + [str(source), str(out), "--quiet"] + workers + flags)[2])
            print("round %d/%d done" % (round_number + 1, args.rounds), file=sys.stderr, flush=True)
    lines = ["### Peak RSS of one conversion process against the core's length (target ≤ %d MB)" % TARGET_MB, "",
             "512² slices of 0.26 mm (a 133 mm core), 0.5 mm apart, 12-bit → int16 HU; highest of %d rounds, "
             "MB (GNU time `%%M`). The interpreter with the engine imported: %.0f MB."
             % (args.rounds, max(imports)), "",
             "| data | " + " | ".join(VARIANTS) + " | analyses add |", "|---|" + "---:|" * (len(VARIANTS) + 1)]
    for label in data:
        highest = [max(peaks[label][name]) for name in VARIANTS]
        lines.append("| %s | %s | %+.0f |" % (label, " | ".join("%.0f" % v for v in highest), highest[0] - highest[1]))
    lines += ["", machine() + "."]
    publish("memory.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
