"""Issue 15 item 8: SIGTERM and SIGHUP stop a batch as Ctrl-C does, and no process outlives it,
not even after ``kill -9`` of the main process (workers follow their parent)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from test_batch import _big_well, _start_and_wait_for_a_partial_file, cli_command, partials

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the session's processes")


def session_processes(session: int) -> List[int]:
    """Live (not zombie) processes of the session ``session`` (the batch ran in a new session)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry))
    return found


def wait_until_no_process_left(session: int, seconds: float = 20.0) -> List[int]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        left = session_processes(session)
        if not left:
            return []
        time.sleep(0.05)
    left = session_processes(session)
    for pid in left:  # never leave them to the next test
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def assert_consistent_and_resumable(tmp_path: Path, cleaned_up: bool = True) -> None:
    """No temporary file left (after ``kill -9`` of everything, the rerun removes them), a
    manifest that is whole JSON naming only files that exist, and a rerun that completes."""
    out = tmp_path / "out"
    if cleaned_up:
        assert partials(out) == []
        manifest = json.loads((out / "manifest.json").read_text())
        for core in manifest["cores"]:
            if core["status"] == "converted":
                assert (out / core["output"]).is_file()
    rerun = subprocess.run(cli_command(tmp_path / "well", out, "--quiet", "--no-fsync"), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*.nrrd"))) == 3 and partials(out) == []


@pytest.mark.parametrize("name, status, workers", [("SIGTERM", 143, 2), ("SIGHUP", 129, 2), ("SIGTERM", 143, 1)])
def test_a_stop_signal_to_the_main_process_stops_workers_and_exits_like_ctrl_c(
        tmp_path: Path, name: str, status: int, workers: int) -> None:
    _big_well(tmp_path)
    process = _start_and_wait_for_a_partial_file(tmp_path, "--workers", workers)
    os.kill(process.pid, getattr(signal, name))  # the main process only, as Slicer's Cancel does
    process.wait(timeout=120)
    left = wait_until_no_process_left(process.pid)  # workers hold its stderr open while they run
    stderr = process.stderr.read()
    assert process.returncode == status, stderr
    assert b"Traceback" not in stderr
    assert left == [], "processes left running after %s: %s" % (name, left)
    assert_consistent_and_resumable(tmp_path)


def test_kill_9_of_the_main_process_leaves_no_worker_running(tmp_path: Path) -> None:
    _big_well(tmp_path)
    process = _start_and_wait_for_a_partial_file(tmp_path, "--workers", 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    left = wait_until_no_process_left(process.pid)
    assert left == [], "workers outlived their killed parent: %s" % left
    assert_consistent_and_resumable(tmp_path, cleaned_up=False)


def test_a_stop_signal_while_headers_are_read_always_stops_the_scan(tmp_path: Path) -> None:
    """SIGTERM lands at a different point of the header scan each round (inside ``open``, a
    read, a close): it must always come out as the interrupt, never as a file that "cannot be
    read" (a double close once turned it into EBADF, and the cancelled batch converted on)."""
    import threading
    from CoreBatchLoaderLib.batch.lifetime import Terminated, stop_signals_interrupt
    from CoreBatchLoaderLib.dicom.headers import read_slice_headers
    from CoreBatchLoaderLib.synthetic import write_core_series
    write_core_series(tmp_path / "core", slices=200, rows=8, columns=8)
    paths = sorted(str(p) for p in (tmp_path / "core").iterdir())
    became = []
    for round_ in range(150):
        with stop_signals_interrupt():
            timer = threading.Timer(round_ % 50 / 10000, os.kill, (os.getpid(), signal.SIGTERM))
            try:
                timer.start()
                try:
                    while True:  # until the signal comes
                        for path in paths:
                            read_slice_headers(path)
                except OSError as exc:
                    became.append(exc)
                    timer.join()
                    time.sleep(1)  # the signal lands here, still in the block
            except Terminated:
                pass
        assert not became, "the interrupt became: %r" % became[0]


def test_a_stop_signal_whose_exception_was_swallowed_still_stops_the_batch_after_the_folder(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.batch.lifetime import Terminated, stop_signals_interrupt
    from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
    from CoreBatchLoaderLib.synthetic import write_well
    write_well(tmp_path / "well", cores=3, slices=4)
    with stop_signals_interrupt() as stops:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Terminated:
            pass  # as code the exception lands in may do
        result = run_batch(tmp_path / "well", tmp_path / "out", BatchOptions(workers=1))
    assert stops.received == signal.SIGTERM
    assert result.cancelled and [r.name for r in result.records] == ["core_001"]
