"""``corebatchloader planes OUTPUT_DIR``: pick the planes (beds, fractures) of every core of a
batch's output from the unwraps its conversion wrote (:mod:`..planes`).

Writes ``planes/<core>.csv``, ``well_planes.csv`` and, when the well has depths,
``well_planes.svg`` (the tadpole track).  Exit status: 0 every core with an unwrap picked (cores
without one are listed with why), 1 some unwrap could not be read, 2 OUTPUT_DIR is not a batch's
output (no readable ``manifest.json``), is in use by a run, or a file there is not the batch's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List

from ..batch.manifest import MANIFEST_NAME
from ..batch.run import OutputLock, UsageError
from ..files import ForeignFile
from ..batch.planes_step import planes_summary, run_planes
from ..planes.well import WellPlanes
from ..record import CoreRecord


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "planes", help="pick beds and fractures in every converted core (planes/<core>.csv, well_planes.csv)",
        description="Pick the planar features (dense beds, open fractures) crossing each core of a batch's "
                    "output, as sinusoids on the unwraps its conversion wrote; write OUTPUT_DIR/planes/<core>.csv "
                    "and OUTPUT_DIR/well_planes.csv.")
    parser.add_argument("output", type=Path, metavar="OUTPUT_DIR", help="the output folder of a convert")
    parser.add_argument("--no-fsync", action="store_true", help="force no file to disk (faster)")
    parser.set_defaults(run=run)
    return parser


class NotABatchOutput(Exception):
    """The folder holds no manifest the batch wrote (the message says what is wrong)."""


def read_records(output_dir: Path) -> List[CoreRecord]:
    """The records of the batch's manifest in ``output_dir``, or :class:`NotABatchOutput`."""
    path = Path(output_dir) / MANIFEST_NAME
    if not Path(output_dir).is_dir():
        raise NotABatchOutput("%s is not a folder" % output_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [CoreRecord.from_json(item) for item in data["cores"]]
    except FileNotFoundError:
        raise NotABatchOutput("%s is not a batch's output: no %s (run corebatchloader convert first)"
                              % (output_dir, MANIFEST_NAME)) from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise NotABatchOutput("%s: not a manifest this program wrote (%s)" % (path, exc)) from None


def run(args: argparse.Namespace) -> int:
    output_dir = Path(args.output)
    try:
        records = read_records(output_dir)
        with OutputLock(output_dir):
            result = run_planes(output_dir, records, durable=not args.no_fsync)
    except (NotABatchOutput, UsageError, ForeignFile) as exc:
        print("corebatchloader planes: error: %s" % exc, file=sys.stderr)
        return 2
    print_summary(result)
    return 1 if any("unwrap not read" in line for line in result.left_out) else 0


def print_summary(result: WellPlanes) -> None:
    for line in result.left_out:
        print("not picked %s" % line, file=sys.stderr)
    print(planes_summary(result))
