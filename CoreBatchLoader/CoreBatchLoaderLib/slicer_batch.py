"""Run the batch from 3D Slicer without its window.

Headless use (on a Linux server without a display, prefix ``xvfb-run -a``)::

    Slicer --no-splash --no-main-window --python-script \\
        /path/to/CoreBatchLoader/CoreBatchLoaderLib/slicer_batch.py INPUT OUTPUT_DIR [options]

The options are those of ``corebatchloader convert`` (shared through
:func:`CoreBatchLoaderLib.cli.add_convert_arguments`) plus ``--route fast|dicomlib``:

- ``fast`` runs ``corebatchloader convert`` with the same arguments in a child ``PythonSlicer``
  (:mod:`CoreBatchLoaderLib.slicer_process`: no process pool inside Slicer's own process);
- ``dicomlib`` runs the module's logic, Slicer's DICOM reader for every core
  (``CoreBatchLoader.CoreBatchLoaderLogic``, imported from the module folder).

Slicer stays open after a script unless it exits, so this one always ends with ``sys.exit`` and
the CLI's statuses: 0 all converted (or already done), 1 some core failed, the output disk
filled up or no DICOM series was found, 2 could not start, 130 interrupted.  Nothing
Slicer-specific is imported at module level.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import List, Optional

MODULE_DIR = Path(os.path.abspath(globals().get("__file__") or sys.argv[0])).parent.parent  # the CoreBatchLoader folder


def build_parser() -> argparse.ArgumentParser:
    from CoreBatchLoaderLib.cli import add_convert_arguments

    parser = argparse.ArgumentParser(
        prog="slicer_batch.py", allow_abbrev=False,
        description="Convert every core under INPUT into OUTPUT_DIR inside 3D Slicer (headless).")
    add_convert_arguments(parser)
    parser.add_argument("--route", choices=("fast", "dicomlib"), default="fast",
                        help="fast: the CoreBatchLoader engine (default); dicomlib: Slicer's DICOM reader "
                             "for every core (slow, the reference)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.route == "fast":
        return _run_fast(_without_route(argv))
    return _run_dicomlib(args)


def _run_fast(arguments: List[str]) -> int:
    """``corebatchloader convert ARGUMENTS`` in a child PythonSlicer (no process pool in Slicer's
    own process: CoreBatchLoaderLib.slicer_process), its output straight to ours."""
    import subprocess

    from CoreBatchLoaderLib.slicer_process import BatchProcessError, cli_command

    try:
        command, env = cli_command(["convert"] + arguments)
        child = subprocess.Popen(command, env=env)  # in our folder: INPUT and OUTPUT_DIR may be relative
    except (BatchProcessError, OSError) as exc:
        print("slicer_batch: error: %s" % exc, file=sys.stderr)
        return 2
    try:
        return child.wait()
    except KeyboardInterrupt:  # the child got the Ctrl-C too: it stops its workers and says so
        return child.wait()


def _without_route(argv: List[str]) -> List[str]:
    """``argv`` without ``--route X`` / ``--route=X`` (the parser takes no abbreviations)."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--route":
            skip = True
        elif not token.startswith("--route="):
            kept.append(token)
    return kept


def _run_dicomlib(args: argparse.Namespace) -> int:
    from CoreBatchLoaderLib import cli

    if args.scheduler:
        print("slicer_batch: error: --scheduler needs --route fast", file=sys.stderr)
        return 2
    for option, used in (("--format nhdr", args.output_format != "nrrd"), ("--on-gap fail", args.on_gap != "fill")):
        if used:
            print("slicer_batch: %s does not apply to --route dicomlib (Slicer's reader decides)" % option,
                  file=sys.stderr)
    try:
        import CoreBatchLoader  # the module file, next to this package
    except ImportError as exc:
        print("slicer_batch: error: --route dicomlib runs inside 3D Slicer (%s)" % exc, file=sys.stderr)
        return 2

    logic = CoreBatchLoader.CoreBatchLoaderLogic()

    def start(bar):
        logic.convert(args.input, args.output, route="dicomlib", compress=args.compress,
                      overwrite=args.overwrite, progressCallback=bar, sceneOptions=cli.scene_options(args),
                      unwrapRadius=None if args.no_unwrap else args.unwrap_radius)
        return logic.result

    return cli.run_and_summarize(args, start)


def _run_as_script() -> None:
    # Slicer may put this file's own folder first on sys.path; its module names (batch, cli, png…)
    # must not shadow anything, and the package is imported from the module folder instead — first,
    # even when it is on the path already behind another copy (an installed extension on PYTHONPATH).
    here, home = str(MODULE_DIR / "CoreBatchLoaderLib"), str(MODULE_DIR)
    sys.path[:] = [home] + [p for p in sys.path if os.path.abspath(p or ".") not in (here, home)]
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        status = exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        status = 130
    except Exception:  # a bug: show it, and still leave Slicer
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(status)


if __name__ == "__main__":
    _run_as_script()
