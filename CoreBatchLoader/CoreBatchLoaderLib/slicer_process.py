"""Running the batch from inside 3D Slicer's own process (the module panel, the console, the
headless script): what differs there from plain Python.

Imports nothing of Slicer at module level, so it is importable (and tested) in plain Python.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
from typing import Iterator, Optional


@contextlib.contextmanager
def python_for_workers(enabled: bool = True) -> Iterator[Optional[str]]:
    """Make multiprocessing start its workers with PythonSlicer while the block runs in Slicer.

    Inside the Slicer application ``sys.executable`` is not a plain Python interpreter, so "spawn"
    workers must be started with ``PythonSlicer`` (on the PATH of Slicer's process; Slicer's own
    pip helper finds it the same way).  Yields the interpreter the workers will run: PythonSlicer,
    ``sys.executable`` outside the Slicer application (nothing is changed), or None when
    PythonSlicer is not found or ``enabled`` is False — then run with one worker.  The previous
    setting is restored afterwards.
    """
    import multiprocessing
    import multiprocessing.spawn

    if not enabled:
        yield None
        return
    if not in_slicer_application():
        yield sys.executable
        return
    executable = shutil.which("PythonSlicer")
    if executable is None:
        yield None
        return
    previous = multiprocessing.spawn.get_executable()
    multiprocessing.set_executable(executable)
    try:
        yield executable
    finally:
        multiprocessing.set_executable(previous)


def in_slicer_application() -> bool:
    """True inside 3D Slicer (``slicer.app`` exists), False in plain Python or with slicer-core."""
    slicer = sys.modules.get("slicer")
    return slicer is not None and getattr(slicer, "app", None) is not None
