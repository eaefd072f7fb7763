""""A final name only ever holds a complete file" (issue 25 item 3), checked on the promise itself,
not on how it is kept: every file the batch writes is read, under its final name, at many moments
of a run (a watcher thread polls the output folder while the command runs) and after ``kill -9``
of the whole batch at several points of it, and each must be complete and valid — an NRRD whose
data is as long as its header says, JSON, CSV and LAS that parse whole, a PNG that decodes, SVG,
MRML and HTML that end where they should.  Names starting with a dot are the batch's own
bookkeeping (temporary ``.partial`` files, the ledger, the lock), not outputs.

Catches: any writer that writes in place (AtomicFile's temporary name made the final name, or the
rename done before the data is written) — the watcher or a kill finds the half-written file.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import nrrd
import numpy as np
import pytest
from conftest import require_module
from CoreBatchLoaderLib.nrrd.reader import read_header
from CoreBatchLoaderLib.synthetic import write_well

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads an open file through /proc/self/fd")

CORES, SLICES, SIZE = 3, 160, 128


def _nrrd(path: Path, data: bytes, fd: int) -> Optional[str]:
    """The header parses and the data after it is exactly as long as the header says."""
    header = read_header("/proc/self/fd/%d" % fd)  # the file that is open, even if renamed over since
    if header.data_files:
        return "a .nrrd with detached data"
    expected = int(np.prod(header.sizes)) * header.dtype.itemsize
    body = data[header.data_offset:]
    if header.encoding == "raw":
        return None if len(body) == expected else "%d data bytes, the header says %d" % (len(body), expected)
    if header.encoding == "gzip":
        inflate = zlib.decompressobj(wbits=31)
        size = len(inflate.decompress(body)) + len(inflate.flush())
        return None if inflate.eof and size == expected else "gzip data: %d bytes, eof %s" % (size, inflate.eof)
    return "unexpected encoding %r" % header.encoding


def _nhdr(path: Path, data: bytes, fd: int) -> Optional[str]:
    """A detached header (pynrrd reads its every field, ``line skip`` included) whose data file is there."""
    header = nrrd.read_header(io.StringIO(data.decode("utf-8")))
    if "data file" not in header or not data.endswith(b"\n"):
        return "no data file line, or the last line cut"
    named = header["data file"]
    target = Path(named) if os.path.isabs(named) else path.parent / named
    return None if target.is_file() else "its data file %s is missing" % named


def _json(path: Path, data: bytes, fd: int) -> Optional[str]:
    json.loads(data.decode("utf-8"))
    return None


def _csv(path: Path, data: bytes, fd: int) -> Optional[str]:
    text = data.decode("utf-8")
    if not text.endswith("\n"):
        return "does not end with a line end"
    rows = list(csv.reader(io.StringIO(text)))
    widths = {len(row) for row in rows}
    return None if rows and len(widths) == 1 else "rows of %s cells" % sorted(widths)


def _las(path: Path, data: bytes, fd: int) -> Optional[str]:
    lasio = require_module("lasio", "lasio")
    text = data.decode("utf-8")
    if not text.endswith("\n"):
        return "does not end with a line end"
    las = lasio.read(io.StringIO(text))
    last = text.rstrip("\n").rsplit("\n", 1)[-1].split()
    return None if len(last) == len(las.curves) else "last row of %d values for %d curves" % (
        len(last), len(las.curves))


def _png(path: Path, data: bytes, fd: int) -> Optional[str]:
    image = require_module("PIL.Image", "Pillow")
    with image.open(io.BytesIO(data)) as picture:
        picture.load()  # decodes every row: a file cut short raises
    return None


def _npz(path: Path, data: bytes, fd: int) -> Optional[str]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:  # a zip cut short raises
        for name in arrays.files:
            arrays[name]  # reads and checks each member's CRC
    return None


def _xml(path: Path, data: bytes, fd: int) -> Optional[str]:
    ElementTree.fromstring(data)
    return None


def _html(path: Path, data: bytes, fd: int) -> Optional[str]:
    text = data.decode("utf-8")
    return None if text.lstrip().lower().startswith("<!doctype html") and text.rstrip().endswith("</html>") \
        else "not a whole HTML page"


CHECKS: Dict[str, Callable[[Path, bytes, int], Optional[str]]] = {
    ".nrrd": _nrrd, ".nhdr": _nhdr, ".json": _json, ".csv": _csv, ".las": _las, ".png": _png,
    ".svg": _xml, ".mrml": _xml, ".html": _html, ".npz": _npz}


def check(path: Path) -> Optional[str]:
    """None when ``path`` is absent or complete and valid, else why not (a kind of file no check
    knows is a failure too: a new output gets its check here)."""
    kind = CHECKS.get(path.suffix.lower())
    if kind is None:
        return "no check for %s files: add one to CHECKS" % path.suffix
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # absent: allowed (replaced or removed between the listing and now)
    try:
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read()
        return kind(path, data, fd)
    except Exception as exc:  # noqa: BLE001 - any failure to read it whole is the finding
        return "%s: %s" % (type(exc).__name__, exc)
    finally:
        os.close(fd)


def final_names(folder: Path) -> List[Path]:
    """Every file below ``folder`` under a final name (not the dot-named bookkeeping)."""
    found = []
    for current, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]
        found += [Path(current, name) for name in files if not name.startswith(".")]
    return found


class Watcher(threading.Thread):
    """Reads every final name under ``folder`` as often as it can, each version (inode, size,
    modification time) once; what is incomplete goes to :attr:`bad`."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.stop = threading.Event()
        self.seen: Dict[Tuple[str, int, int, int], None] = {}
        self.bad: List[str] = []
        self.sweeps = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sweep()
            time.sleep(0.001)  # a sweep is ~0.5 ms: many per file written, and CPU left for the batch

    def sweep(self) -> None:
        for path in final_names(self.folder):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            version = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if version in self.seen:
                continue
            self.seen[version] = None
            problem = check(path)
            if problem:
                self.bad.append("%s: %s" % (path.relative_to(self.folder), problem))
        self.sweeps += 1


def _command(well: Path, out: Path) -> List[str]:
    return [sys.executable, "-m", "CoreBatchLoaderLib.cli", "convert", str(well), str(out), "--workers", "2",
            "--no-fsync", "--progress", "json", "--start-depth", "1200", "--core-length",
            str(SLICES / 1000.0), "--scene", "--well-name", "Final names"]


def _run_and_kill(well: Path, out: Path, when: Callable[[subprocess.Popen, List[str]], bool]) -> bool:
    """Run the batch until ``when(process, progress lines so far)`` says so, then ``kill -9`` its
    whole process group; True if it was killed (False: it finished first)."""
    process = subprocess.Popen(_command(well, out), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True, text=True)
    lines: List[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.time() + 240
    try:
        while process.poll() is None and time.time() < deadline:
            if when(process, lines):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
                return True
            time.sleep(0.002)
        assert process.poll() is not None, "the batch ran for 240 s"
        return False
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
        reader.join(timeout=10)


def _folder_lines(lines: List[str]) -> int:
    return sum('"event":"folder"' in line for line in list(lines))


def _after(seconds: float, condition: Callable[[subprocess.Popen, List[str]], bool]
           ) -> Callable[[subprocess.Popen, List[str]], bool]:
    """``condition``, then ``seconds`` more."""
    since: List[float] = []

    def when(process: subprocess.Popen, lines: List[str]) -> bool:
        if not since and condition(process, lines):
            since.append(time.time())
        return bool(since) and time.time() - since[0] >= seconds
    return when


def test_every_final_name_holds_a_complete_file_during_a_run_and_after_kill_9(tmp_path: Path) -> None:
    """Kill points: the moment the first output appears (a core being written), while the second
    core is written, as the well's steps start (LAS, SVG, pictures, scene, report) and twice
    during them; each rerun resumes from what the last one left, the last one finishes."""
    write_well(tmp_path / "well", cores=CORES, slices=SLICES, rows=SIZE, columns=SIZE, signed=False, bits_stored=12,
               intercept=-1024.0)
    out = tmp_path / "out"
    watcher = Watcher(out)
    watcher.start()
    kill_points = [
        ("first output", lambda process, lines: out.is_dir() and bool(final_names(out))),
        ("second core", _after(0.05, lambda process, lines: _folder_lines(lines) >= 1)),
        ("well steps start", lambda process, lines: _folder_lines(lines) >= CORES),
        ("well steps", _after(0.3, lambda process, lines: _folder_lines(lines) >= CORES)),
        ("well steps later", _after(0.8, lambda process, lines: _folder_lines(lines) >= CORES)),
    ]
    killed = []
    try:
        for name, when in kill_points:
            if _run_and_kill(tmp_path / "well", out, when):
                killed.append(name)
            found = {str(p.relative_to(out)): check(p) for p in final_names(out)}
            after_kill = {name: problem for name, problem in found.items() if problem}
            assert after_kill == {}, "after kill -9 at %r: %s" % (name, after_kill)
        finished = subprocess.run(_command(tmp_path / "well", out), capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-2000:]
    finally:
        watcher.stop.set()
        watcher.join(timeout=60)
    watcher.sweep()
    assert watcher.bad == [], watcher.bad
    assert len(killed) >= 3, "the batch finished before most kill points: %s" % killed
    names = {str(p.relative_to(out)) for p in final_names(out)}
    assert {"manifest.json", "report.html", "scene.mrml", "well_ct_log.las", "core_001.nrrd"} <= names, (
        "missing after the last run (killed at %s); its stderr:\n%s" % (killed, finished.stderr[-3000:]))
    assert names <= {version[0][len(str(out)) + 1:] for version in watcher.seen}  # each read at least once
    assert watcher.sweeps > 20


# Run the batch in a child that SIGKILLs itself right after the rename of one file into its final
# name and before the ledger records it (the window of AtomicFile.commit that a kill -9 can hit).
_KILLED_AFTER_RENAME = """
import os, signal, sys
from CoreBatchLoaderLib import files
from CoreBatchLoaderLib.cli import main
target, recorded = sys.argv[1], files.record_written
def record_written(path):
    if os.path.basename(str(path)) == target:
        os.kill(os.getpid(), signal.SIGKILL)
    recorded(path)
files.record_written = record_written
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("name", ["well_ct_log.csv", "well_ct_log.svg", "well_ct_log.las", "report.html",
                                  "manifest.json"])
def test_a_kill_between_the_rename_and_the_ledger_costs_the_rerun_nothing(tmp_path: Path, name: str) -> None:
    """A run killed after renaming ``name`` into place but before the ledger claimed it: the rerun
    takes the file as the batch's own and writes every output, exit 0 meaning all of them.

    Guards the window in :meth:`AtomicFile.commit` between ``os.replace`` and ``record_written``:
    with the claim written only after the rename, the rerun saw ``well_ct_log.csv`` as someone
    else's file, wrote no CT log (a warning only), removed the earlier LAS and exited 0 without
    ``well_ct_log.las`` — the flaky kill -9 test above, made deterministic."""
    write_well(tmp_path / "well", cores=2, slices=20, rows=48, columns=48, signed=False, bits_stored=12,
               intercept=-1024.0)
    out = tmp_path / "out"
    command = _command(tmp_path / "well", out)
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)  # its files: the ledger's
    assert first.returncode == 0, first.stderr[-2000:]
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_RENAME, name] + command[3:],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    names = {str(p.relative_to(out)) for p in final_names(out)}
    assert finished.returncode == 0 and "not written" not in finished.stderr, finished.stderr
    assert {"manifest.json", "report.html", "scene.mrml", "well_ct_log.las", "well_ct_log.csv", "well_ct_log.svg",
            "core_001.nrrd", "core_002.nrrd"} <= names, "missing; stderr:\n%s" % finished.stderr[-3000:]
    assert [p for p in final_names(out) if check(p)] == []


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_the_checks_find_a_file_cut_short(tmp_path: Path, cut: float) -> None:
    """The watcher's checks themselves: every kind of output, cut short, is found incomplete."""
    write_well(tmp_path / "well", cores=1, slices=6, rows=32, columns=32, signed=False, bits_stored=12,
               intercept=-1024.0)
    out = tmp_path / "out"
    done = subprocess.run(_command(tmp_path / "well", out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    kinds = {}
    for path in final_names(out):
        assert check(path) is None, (path, check(path))
        kinds.setdefault(path.suffix, path)
    assert set(kinds) == set(CHECKS)  # the run wrote every kind the checks know
    for suffix, path in kinds.items():
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * cut)])
        assert check(path) is not None, "%s cut to %d%% passed" % (path.name, cut * 100)
