"""``corebatchloader depth-match OUTPUT_DIR --log WIRELINE.las --curve RHOB``: every core of a
converted well shifted onto log depth (:mod:`..depth_match.run`).

Exit status: 0 matched (ambiguous and not-matched cores are listed, with why), 2 the match
could not start (a bad LAS, curve, option or OUTPUT_DIR: one line, nothing written).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..depth_match.names import FOLDER
from ..depth_match.solver import DEFAULT_MAX_SHIFT_M, DEFAULT_RESPONSE_M  # numpy alone: cheap for the parser


def add_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "depth-match", help="shift every core onto the wireline's log depth",
        description="Match every core's CT log to a wireline curve (all cores together: order kept, no "
                    "overlaps), calibrate CT numbers to density, and write OUTPUT_DIR/%s/ (shifts, a depth "
                    "table at log depth for convert --depths, the CT log at log depth as LAS, the calibration, "
                    "a correlation picture). OUTPUT_DIR is a convert's output with --depths (driller's depths)."
                    % FOLDER)
    parser.add_argument("output", type=Path, metavar="OUTPUT_DIR", help="a convert's output folder (with depths)")
    parser.add_argument("--log", type=Path, required=True, metavar="WIRELINE.las", dest="las",
                        help="the wireline logs (LAS 1.2/2.0; depth in M or FT)")
    parser.add_argument("--curve", required=True, metavar="MNEMONIC",
                        help="the curve to match: RHOB (density), or GR, NPHI… (the relation's sign is found)")
    parser.add_argument("--max-shift", type=float, default=DEFAULT_MAX_SHIFT_M, metavar="M",
                        help="largest shift of a core, either way (default %(default)g m)")
    parser.add_argument("--calibration", type=Path, metavar="STANDARDS.csv",
                        help="scanned standards: a CSV with density and hu columns (two or more)")
    parser.add_argument("--response", type=float, default=DEFAULT_RESPONSE_M, metavar="M",
                        help="the logging tool's vertical resolution (default %(default)g m, density tools)")
    parser.add_argument("--no-fsync", action="store_true", help="force no file to disk (faster)")
    parser.add_argument("--quiet", action="store_true", help="only the summary line")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..depth_match.run import DepthMatchError, DepthMatchOptions, depth_match  # only when it runs

    options = DepthMatchOptions(args.las, args.curve, args.max_shift, args.calibration, args.response,
                                durable=not args.no_fsync)
    if not (math.isfinite(args.response) and args.response > 0):
        return _fail("--response must be a positive number of metres (got %g)" % args.response)
    try:
        result = depth_match(Path(args.output), options)
    except DepthMatchError as exc:
        return _fail(str(exc))
    if not args.quiet:
        print("%-24s %9s %9s %6s  %s" % ("core", "shift m", "log top", "conf", "status"))
        for core in result.cores:
            print("%-24s %+9.3f %9.3f %6.2f  %s%s" % (core.name, core.shift_m, core.log_top_m, core.confidence,
                                                     core.status, " (%s)" % core.why if core.why else ""))
    for warning in result.warnings:
        print("corebatchloader: depth-match: %s" % warning, file=sys.stderr)
    counts = {s: sum(c.status == s for c in result.cores) for s in ("matched", "ambiguous", "not matched")}
    fit = result.calibration
    print("depth-match: %d matched, %d ambiguous, %d not matched; %s; files in %s" % (
        counts["matched"], counts["ambiguous"], counts["not matched"],
        "HU = %.1f·ρ %+.1f (%s)" % (fit.hu_per_unit, fit.hu_at_zero, fit.source) if fit else "no density calibration",
        result.folder))
    print("apply the shifts: corebatchloader convert INPUT %s --depths %s" % (
        args.output, result.files["depths"]))
    return 0


def _fail(message: str) -> int:
    print("corebatchloader: depth-match: %s" % message, file=sys.stderr)
    return 2
