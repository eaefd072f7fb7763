"""The batch as a child process of 3D Slicer: ``PythonSlicer -c BOOTSTRAP MODULE_DIR convert …``.

Slicer's own process must not run a multiprocessing pool (Slicer/Slicer#7445: BrokenProcessPool
and hangs inside Slicer 5.4 on macOS; on Windows CPython swaps Slicer's ``sys.executable`` for
``sys._base_executable``), and a batch of hundreds of cores must not freeze the panel.  So the
module's panel, its console API and the headless entry start the batch the way Slicer's own
``slicer.util.launchConsoleProcess`` runs a Python module: ``PythonSlicer`` (found with
``shutil.which``, as ``slicer.util`` does) as a child process, reading its ``--progress json``
lines (:mod:`.batch.events`) as they come.  Cancelling stops the child at once: SIGTERM on POSIX
(the batch stops its workers, removes its temporary files and leaves a consistent manifest),
the process tree ended on Windows.

``PythonSlicer`` is not Python itself but CTK's application launcher, which sets up the
environment and starts ``python-real`` as *its* child, without passing signals on
(Slicer's SuperBuild/python_configure_python_launcher.cmake; commontk/AppLauncher).  A signal
to the launcher alone would end the launcher and leave the batch running.  So the child starts
in a process group of its own (a new session on POSIX, ``CREATE_NEW_PROCESS_GROUP`` on
Windows) and cancelling signals the whole group: the launcher, the batch and its workers.

Which copy of the package the child runs: CTK's launcher puts the ``PYTHONPATH`` entries of its
settings first (extensions from the Extensions Manager are there), so with an installed copy
and a development checkout side by side ``-m CoreBatchLoaderLib.cli`` could import the
installed one.  The child therefore starts with :data:`BOOTSTRAP`, which puts the folder of the
module that started it first on ``sys.path`` and runs the command with ``runpy`` (as ``-m``
would); its worker processes inherit that ``sys.path`` (multiprocessing passes it on).

Plain Python throughout (a reader thread per stream, no Qt), so the tests run it with
``sys.executable`` standing for PythonSlicer; the module adds only the event polling.
"""
from __future__ import annotations

import collections
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Deque, Dict, List, Optional, Sequence, Tuple

from .analysis.surroundings import CoreRangeError, check_core_range
from .analysis.unwrap_rings import UnwrapRadius, UnwrapRadiusError
from .batch import events
from .batch.manifest import read_manifest
from .batch.run import BatchOptions, BatchResult, Progress, UsageError
from .convert import MAX_SLICE_PIXELS, ConvertOptions
from .defaults import DEFAULT_RADIUS_TEXT, DEFAULT_WORKERS
from .dicom.pixel_reader import missing_decoder
from .record import CoreRecord
from .well.options import SceneOptions

MODULE_DIR = Path(__file__).resolve().parent.parent  # holds CoreBatchLoaderLib (and CoreBatchLoader.py)


# The child's first statements (``python -c BOOTSTRAP MODULE_DIR ARGUMENTS…``): MODULE_DIR first on
# sys.path, the working folder's entry ('') dropped (a user's folder must not shadow a package),
# then the command as ``python -m CoreBatchLoaderLib.cli ARGUMENTS…`` runs it.  One line: it is an argument.
BOOTSTRAP = ("import runpy, sys; home = sys.argv.pop(1); "
             "sys.path[:] = [home] + [p for p in sys.path if p not in ('', home)]; "
             "runpy.run_module('CoreBatchLoaderLib.cli', run_name='__main__', alter_sys=True)")

STDERR_GRACE = 1.0  # seconds to wait for the last stderr lines of a child that has ended


class BatchProcessError(RuntimeError):
    """The batch's child process could not start, or ended without saying how (a crash)."""


def in_slicer_application() -> bool:
    """True inside 3D Slicer (``slicer.app`` exists), False in plain Python or with slicer-core."""
    slicer = sys.modules.get("slicer")
    return slicer is not None and getattr(slicer, "app", None) is not None


def python_slicer() -> str:
    """The interpreter the batch runs in: inside the Slicer application ``PythonSlicer``, which
    Slicer puts on its process's PATH (``slicer.util`` finds it with ``shutil.which`` too);
    elsewhere (PythonSlicer itself, a plain Python) this very interpreter."""
    if not in_slicer_application():
        return sys.executable
    found = shutil.which("PythonSlicer")
    if not found:
        raise BatchProcessError("PythonSlicer was not found on the PATH of Slicer's process (it is next to the "
                                "Slicer executable in a normal install); the fast route runs the batch with it")
    return found


def convert_arguments(input_dir: Path, output_dir: Path, options: BatchOptions) -> List[str]:
    """``corebatchloader convert`` arguments for ``options`` (absolute paths: the child's working
    folder is the module folder).  The inverse of :func:`..cli.batch_options` (a test round-trips them)."""
    convert, scene = options.convert, options.scene
    arguments = [str(Path(input_dir).resolve()), str(Path(output_dir).resolve()), "--workers=%d" % options.workers,
                 "--on-gap=" + convert.gap_policy, "--format=" + convert.output_format,
                 "--void-threshold=%r" % convert.void_threshold_hu]
    if convert.unwrap_radius is not None:
        arguments.append("--unwrap-radius=" + convert.unwrap_radius)
    if convert.max_slice_pixels != MAX_SLICE_PIXELS:
        arguments.append("--max-slice-pixels=%d" % convert.max_slice_pixels)
    for flag, wanted in (("--compress", convert.compress), ("--no-fsync", not convert.durable),
                         ("--no-ct-log", not convert.ct_log), ("--no-unwrap", convert.unwrap_radius is None),
                         ("--overwrite", options.overwrite), ("--flip-all", scene.flip_all),
                         ("--scene", scene.build_scene), ("--planes", options.planes)):
        if wanted:
            arguments.append(flag)
    depths = None if scene.depths_file is None else Path(scene.depths_file).resolve()
    for option, value in (("--scheduler", options.scheduler), ("--depths", depths),
                          ("--core-min-hu", convert.core_min_hu), ("--core-max-hu", convert.core_max_hu),
                          ("--start-depth", scene.start_depth_m), ("--core-length", scene.core_length_m),
                          ("--depth-unit", scene.depth_unit),
                          ("--scene-memory", scene.memory_budget), ("--well-name", scene.well_name),
                          ("--company", scene.company), ("--field", scene.field), ("--uwi", scene.uwi)):
        if value is not None:  # "--option=value": a value starting with "-" (a well named "-7") stays a value
            arguments.append("%s=%s" % (option, repr(value) if isinstance(value, float) else value))  # repr: every digit
    return arguments


def cli_command(arguments: List[str], python: Optional[str] = None) -> Tuple[List[str], Dict[str, str]]:
    """The command ``corebatchloader ARGUMENTS`` run by ``python`` (:func:`python_slicer` unless
    given) from this module folder's copy of the package, whatever else is on its ``PYTHONPATH``
    (:data:`BOOTSTRAP`), and its environment."""
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"  # file names in messages, whatever the console's code page
    return [python or python_slicer(), "-c", BOOTSTRAP, str(MODULE_DIR)] + list(arguments), env


def cores_missing_a_decoder(records: Sequence[CoreRecord]) -> Dict[str, List[str]]:
    """Transfer syntax UID → the failed cores whose slices in it no installed package decodes
    (none for uncompressed data, nor for what Pillow or pyjpegls already decode): what the
    Slicer panel offers to install, naming them, before it reruns just those cores."""
    found: Dict[str, List[str]] = {}
    for record in records:
        syntax = missing_decoder(record.error) if record.status == "failed" else None
        if syntax is not None:
            found.setdefault(syntax, []).append(record.name)
    return found


def panel_options(compress: bool = False, workers: int = DEFAULT_WORKERS, overwrite: bool = False,
                  depth_file: Optional[Path] = None, scene_memory_gb: float = 0.0, well_name: Optional[str] = None,
                  scene: Optional[SceneOptions] = None, unwrap_radius: Optional[str] = DEFAULT_RADIUS_TEXT,
                  core_min_hu: Optional[float] = None, core_max_hu: Optional[float] = None,
                  planes: bool = False) -> BatchOptions:
    """The batch's options from the module's (panel and console) settings: a depth file places the
    cores and builds the well scene within ``scene_memory_gb`` (0: the default budget); ``scene``
    (e.g. from the command line) replaces those three; ``core_min_hu`` / ``core_max_hu``: the CT
    range of the core's matter (None: decided per core); ``planes``: the planes step after the
    batch (``--planes``).  :class:`UsageError` for a bad unwrap radius or core range."""
    try:
        check_core_range(core_min_hu, core_max_hu)
    except CoreRangeError as exc:
        raise UsageError(str(exc)) from None
    if scene is None:
        scene = SceneOptions() if depth_file is None else SceneOptions(
            depths_file=Path(depth_file), build_scene=True, well_name=well_name,
            memory_budget=int(scene_memory_gb * 1e9) or None)
    if unwrap_radius is not None:
        try:
            unwrap_radius = UnwrapRadius.parse(unwrap_radius).text()
        except UnwrapRadiusError as exc:
            raise UsageError(str(exc)) from None
    return BatchOptions(convert=ConvertOptions(compress=compress, unwrap_radius=unwrap_radius,
                                               core_min_hu=None if core_min_hu is None else float(core_min_hu),
                                               core_max_hu=None if core_max_hu is None else float(core_max_hu)),
                        overwrite=overwrite,
                        workers=int(workers), scene=scene, planes=bool(planes))


class ChildBatch:
    """A batch running in a child process, read without blocking.

    :meth:`poll` returns the core folders finished since the last call (as :class:`Progress`,
    what an in-process batch gives its callback), and keeps in :attr:`stage` the line of the step
    running after the last folder (the well, the report: "" before); :attr:`done` says when the child has ended and
    every line is read; :meth:`cancel` stops it at once; :meth:`result` gives the
    :class:`BatchResult` (records from the manifest), raising :class:`UsageError` when the batch
    could not start and :class:`BatchProcessError` when the child died without an ``"end"`` line
    (and was not cancelled).
    """

    def __init__(self, command: List[str], output_dir: Path, cwd: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.command = command
        self.output_dir = Path(output_dir).resolve()
        self.cancelled = False
        self.stderr_tail: Deque[str] = collections.deque(maxlen=200)  # the summary, warnings, a traceback
        self.stage = ""  # what runs after the last folder, as the batch says it ("well: the CT log…")
        self._events: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        self._end: Optional[Dict[str, Any]] = None
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, cwd=None if cwd is None else str(cwd), env=env,
                                            encoding="utf-8", errors="replace",
                                            **_own_process_group(), **_hidden_console())
        except OSError as exc:
            raise BatchProcessError("cannot start %s: %s" % (command[0], exc.strerror or exc)) from None
        self._readers = [threading.Thread(target=self._read_events, args=(self.process.stdout,), daemon=True),
                         threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True)]
        for reader in self._readers:
            reader.start()

    @classmethod
    def start(cls, input_dir: Path, output_dir: Path, options: BatchOptions,
              python: Optional[str] = None) -> "ChildBatch":
        """``corebatchloader convert … --progress json`` in a child (:func:`cli_command`; ``python``:
        :func:`python_slicer` unless given), from the module folder."""
        command, env = cli_command(["convert"] + convert_arguments(input_dir, output_dir, options)
                                   + ["--progress", "json"], python)
        return cls(command, output_dir, cwd=MODULE_DIR, env=env)

    def poll(self, timeout: float = 0.0) -> List[Progress]:
        """The folders finished since the last call; waits up to ``timeout`` seconds for the first."""
        found: List[Progress] = []
        while True:
            try:
                event = self._events.get(timeout=timeout) if timeout > 0 and not found else self._events.get_nowait()
            except queue.Empty:
                return found
            if event["event"] == events.FOLDER:
                found.append(events.progress_of(event))
            elif event["event"] == events.STAGE:
                self.stage = str(event.get("message") or "")
            else:
                self._end = event

    @property
    def done(self) -> bool:
        """The child has ended and all its lines have been read (poll once more to get them).

        Only stdout's end counts: the batch keeps its JSON lines on a descriptor its worker
        processes do not inherit, while they do inherit stderr — a worker outliving a killed
        batch would otherwise keep the batch "running" for as long as it lives."""
        return self.process.poll() is not None and not self._readers[0].is_alive()

    def cancel(self) -> None:
        """Stop the batch now, not after the current folder: SIGTERM to the child's process group
        on POSIX (the batch exits 130/143 after stopping its workers and removing its temporary
        files), the child's process tree ended on Windows (its temporary files are removed by the
        next run).  What finished is in the manifest; a rerun resumes."""
        if not self.done:  # also when the launcher has ended and the batch it started has not
            self.cancelled = True
            _stop_process_group(self.process)

    def wait(self, timeout: Optional[float] = None) -> int:
        """The child's exit status, once it has ended and its lines are read."""
        status = self.process.wait(timeout)
        self._readers[0].join(timeout)
        self._readers[1].join(STDERR_GRACE)  # see done: stderr may stay open in a stray worker
        return status

    def result(self) -> BatchResult:
        """Wait for the child and return the batch's result; the records are the manifest's."""
        status = self.wait()
        self.poll()
        end = self._end
        if end is not None and end["event"] == events.ERROR:
            raise UsageError(end["message"])
        if end is None and not self.cancelled:
            raise BatchProcessError("the batch process ended with status %d without finishing: %s" % (
                status, " | ".join(list(self.stderr_tail)[-5:]) or "no message"))
        return events.result_of(end, read_manifest(self.output_dir), cancelled=self.cancelled)

    def _read_events(self, stream: IO[str]) -> None:
        for text in stream:
            try:
                self._events.put(events.parse(text))
            except ValueError:  # not ours (nothing else should reach stdout): keep it where people look
                self.stderr_tail.append(text.rstrip("\n"))
        stream.close()

    def _read_stderr(self, stream: IO[str]) -> None:
        for text in stream:
            self.stderr_tail.append(text.rstrip("\n"))
        stream.close()


def _own_process_group() -> Dict[str, Any]:
    """Popen arguments that start the child as the leader of a process group of its own (see the
    module docstring: the launcher does not pass a signal on, a signal to the group reaches all)."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def _stop_process_group(process: "subprocess.Popen[str]") -> None:
    """SIGTERM to every process of ``process``'s group (POSIX); on Windows, end its tree with
    ``taskkill /T`` (a console-less group cannot be sent Ctrl-Break), or the process alone."""
    if os.name == "nt":
        try:
            subprocess.run(["taskkill", "/PID", str(process.pid), "/T", "/F"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, **_hidden_console())
        except OSError:
            process.terminate()
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the child leads its group: its pid is the group's
    except ProcessLookupError:  # already ended
        pass


def _hidden_console() -> Dict[str, Any]:
    """No console window for the child on Windows (as ``slicer.util.launchConsoleProcess``)."""
    if os.name != "nt":
        return {}
    info = subprocess.STARTUPINFO()  # type: ignore[attr-defined]
    info.dwFlags = 1  # STARTF_USESHOWWINDOW
    info.wShowWindow = 0  # SW_HIDE
    return {"startupinfo": info}
