"""The batch as a transaction log: parallel, on Dask, crash-safe, interruptible, locked, fault-isolated."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import nrrd
import numpy as np
import pytest
from conftest import convert_tree, require, require_module
from CoreBatchLoaderLib.batch.run import BatchOptions, OutputLock, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.nrrd.reader import read_header, read_slice
from CoreBatchLoaderLib.synthetic import write_core_series, write_well


def cli_command(*args: object) -> list:
    return [sys.executable, "-m", "CoreBatchLoaderLib.cli", "convert", *map(str, args)]


def outputs(folder: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.nrrd"))}


def comparable(records) -> list:
    """Records without what legitimately differs between runs (timing)."""
    return [{k: v for k, v in r.to_json().items() if k != "seconds"} for r in records]


def partials(folder: Path) -> list:
    """Temporary files anywhere in the output folder (its subfolders included)."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial" in p.name]


def test_output_is_identical_whatever_the_number_of_workers(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=4, slices=6)
    one = convert_tree(tmp_path / "well", tmp_path / "one", workers=1)
    two = convert_tree(tmp_path / "well", tmp_path / "two", workers=2)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two") and len(outputs(tmp_path / "one")) == 4
    assert comparable(one.records) == comparable(two.records)


def test_a_dask_cluster_gives_the_same_outputs_and_manifest(tmp_path: Path) -> None:
    distributed = require_module("distributed", "dask[distributed]")
    write_well(tmp_path / "well", cores=3, slices=5)
    local = convert_tree(tmp_path / "well", tmp_path / "local", workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = convert_tree(tmp_path / "well", tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert outputs(tmp_path / "local") == outputs(tmp_path / "dask")
    assert comparable(local.records) == comparable(remote.records)


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=3)
    (tmp_path / "out").mkdir()
    with OutputLock(tmp_path / "out"):
        run = subprocess.run(cli_command(tmp_path / "well", tmp_path / "out", "--quiet"),
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "in use by another corebatchloader run" in run.stderr
    assert not (tmp_path / "out" / "core_001.nrrd").exists()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_file_size_limit_fails_only_the_big_core_and_leaves_no_partial_file(tmp_path: Path) -> None:
    write_core_series(tmp_path / "well" / "small", slices=4, rows=32, columns=32)  # 8 KB
    write_core_series(tmp_path / "well" / "big", slices=40, rows=64, columns=64)  # 320 KB > limit
    run = subprocess.run(cli_command(tmp_path / "well", tmp_path / "out", "--quiet", "--workers", 1),
                         capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size)
    assert run.returncode == 1, run.stderr
    cores = {c["name"]: c for c in json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]}
    assert cores["small"]["status"] == "converted"
    assert cores["big"]["status"] == "failed" and "File too large" in cores["big"]["error"]
    assert not (tmp_path / "out" / "big.nrrd").exists() and partials(tmp_path / "out") == []


def _start_and_wait_for_a_partial_file(tmp_path: Path, *extra: object) -> subprocess.Popen:
    process = subprocess.Popen(cli_command(tmp_path / "well", tmp_path / "out", "--quiet", "--no-fsync", *extra),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (tmp_path / "out").exists() and partials(tmp_path / "out"):
            return process
        time.sleep(0.005)
    process.kill()
    pytest.fail("no partial file appeared")


def _big_well(tmp_path: Path) -> None:
    for n in range(3):
        write_core_series(tmp_path / "well" / ("core_%d" % n), slices=300, rows=128, columns=128, rock=False,
                          seed=n)


def test_kill_9_mid_write_leaves_no_incomplete_final_file_and_a_rerun_completes(tmp_path: Path) -> None:
    _big_well(tmp_path)
    process = _start_and_wait_for_a_partial_file(tmp_path, "--workers", 1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    for path in (tmp_path / "out").glob("*.nrrd"):  # whatever is under a final name is complete
        data, _ = nrrd.read(str(path))
        assert data.shape == (128, 128, 300)
    rerun = subprocess.run(cli_command(tmp_path / "well", tmp_path / "out", "--quiet"), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    cores = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]
    assert len(cores) == 3 and all(c["status"] in ("converted", "skipped") for c in cores)
    assert len(list((tmp_path / "out").glob("*.nrrd"))) == 3 and partials(tmp_path / "out") == []


def test_an_interrupted_rerun_keeps_the_earlier_records_so_the_next_run_resumes(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=3, slices=5, rows=16, columns=16)
    first = run_batch(tmp_path / "well", tmp_path / "out")
    assert [r.status for r in first.records] == ["converted"] * 3
    stopped = run_batch(tmp_path / "well", tmp_path / "out", progress=lambda progress: True)  # cancel at once
    assert stopped.cancelled and [r.status for r in stopped.records] == ["skipped"]
    kept = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]
    assert [c["name"] for c in kept] == [r.name for r in first.records]
    third = run_batch(tmp_path / "well", tmp_path / "out")
    assert [(r.status, r.error) for r in third.records] == [("skipped", None)] * 3


def test_outputs_the_manifest_never_recorded_are_recognised_by_their_header(tmp_path: Path) -> None:
    """A run stopped between a core's rename and the manifest (power cut, full disk): the rerun
    recognises the file as its own by the header's source, and still refuses a stranger's file."""
    write_well(tmp_path / "well", cores=3, slices=5, rows=16, columns=16)
    assert run_batch(tmp_path / "well", tmp_path / "out").exit_code == 0
    (tmp_path / "out" / "manifest.json").unlink()
    stranger = tmp_path / "out" / "core_003.nrrd"
    nrrd.write(str(stranger), np.zeros((2, 2, 2), dtype=np.int16))
    rerun = run_batch(tmp_path / "well", tmp_path / "out")
    assert [(r.name, r.status) for r in rerun.records] == [
        ("core_001", "converted"), ("core_002", "converted"), ("core_003", "failed")]
    assert "was not written by this batch" in rerun.records[2].error
    assert nrrd.read(str(stranger))[0].shape == (2, 2, 2)  # left as it was


def test_a_moved_input_resumes_from_its_new_place(tmp_path: Path) -> None:
    """The input is mounted elsewhere on the next day (another mount point, drive letter): the
    unchanged cores are skipped, a changed one is converted again, nothing is refused."""
    write_well(tmp_path / "disk1" / "well", cores=3, slices=5, rows=16, columns=16)
    assert run_batch(tmp_path / "disk1" / "well", tmp_path / "out").exit_code == 0
    os.rename(tmp_path / "disk1", tmp_path / "disk2")
    changed = sorted((tmp_path / "disk2" / "well" / "core_002").iterdir())[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10 ** 9))
    rerun = run_batch(tmp_path / "disk2" / "well", tmp_path / "out")
    assert [(r.name, r.status, r.error) for r in rerun.records] == [
        ("core_001", "skipped", None), ("core_002", "converted", None), ("core_003", "skipped", None)]
    sources = [c["source"] for c in json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]]
    assert all(s.startswith(str((tmp_path / "disk2").resolve())) for s in sources)


def test_a_slice_rewritten_with_its_old_modification_time_is_converted_again(tmp_path: Path) -> None:
    """A slice replaced by one of other content and size whose modification time was kept (as
    ``cp -p`` or ``rsync -t`` keep it): the fingerprint's file sizes tell, and the core is
    converted again from the new slice.  Catches: the fingerprint without ``st_size``
    (batch/manifest.folder_fingerprint) — the core would be skipped with its old voxels."""
    import pydicom
    write_well(tmp_path / "well", cores=2, slices=5, rows=16, columns=16)
    assert run_batch(tmp_path / "well", tmp_path / "out").exit_code == 0
    first = sorted((tmp_path / "well" / "core_002").iterdir())[0]
    before = first.stat()
    dataset = pydicom.dcmread(str(first))
    pixels = dataset.pixel_array.copy()
    pixels[4:12, 4:12] = 1234
    dataset.PixelData = pixels.tobytes()
    dataset.ImageComments = "re-exported"  # a few bytes more: another size
    dataset.save_as(str(first))
    os.utime(first, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert first.stat().st_mtime_ns == before.st_mtime_ns and first.stat().st_size != before.st_size
    rerun = run_batch(tmp_path / "well", tmp_path / "out")
    assert [(r.name, r.status) for r in rerun.records] == [("core_001", "skipped"), ("core_002", "converted")]
    heights = sorted(float(pydicom.dcmread(str(f), stop_before_pixels=True).ImagePositionPatient[2])
                     for f in (tmp_path / "well" / "core_002").iterdir())
    k = heights.index(float(dataset.ImagePositionPatient[2]))  # the slice's place in the volume
    slope, intercept = float(dataset.get("RescaleSlope", 1)), float(dataset.get("RescaleIntercept", 0))
    assert np.all(read_slice(read_header(tmp_path / "out" / "core_002.nrrd"), k)[4:12, 4:12] == 1234 * slope + intercept)


def test_a_moved_input_gets_new_nhdr_headers_naming_the_files_at_their_new_place(tmp_path: Path) -> None:
    write_well(tmp_path / "disk1" / "well", cores=2, slices=4, rows=16, columns=16, signed=True)
    options = BatchOptions(convert=ConvertOptions(output_format="nhdr"))
    assert [r.output for r in run_batch(tmp_path / "disk1" / "well", tmp_path / "out", options).records] == [
        "core_001.nhdr", "core_002.nhdr"]
    os.rename(tmp_path / "disk1", tmp_path / "disk2")
    rerun = run_batch(tmp_path / "disk2" / "well", tmp_path / "out", options)
    assert [(r.status, r.error) for r in rerun.records] == [("converted", None)] * 2
    for name in ("core_001", "core_002"):  # the headers load again: their files are where they say
        header = read_header(tmp_path / "out" / (name + ".nhdr"))
        assert all(str(f).startswith(str((tmp_path / "disk2").resolve())) for f in header.data_files)
        assert read_slice(header, 3).shape == (16, 16)


def test_a_copy_of_a_core_folder_is_converted_on_its_own(tmp_path: Path) -> None:
    """A copy with the same names, sizes and times (cp -a) beside the original is not taken for
    the original moved: it gets its own output."""
    write_well(tmp_path / "well", cores=1, slices=5, rows=16, columns=16)
    assert run_batch(tmp_path / "well", tmp_path / "out").exit_code == 0
    shutil.copytree(tmp_path / "well" / "core_001", tmp_path / "well" / "core_001_copy", copy_function=shutil.copy2)
    rerun = run_batch(tmp_path / "well", tmp_path / "out")
    assert [(r.name, r.status) for r in rerun.records] == [("core_001", "skipped"), ("core_001_copy", "converted")]


def test_a_series_spread_over_two_folders_converts_as_two_cores_with_a_warning(tmp_path: Path) -> None:
    """An export that caps the files per folder: one series in DICOM/0001 and DICOM/0002."""
    uid = "1.2.826.0.1.3680043.8.498.1234567"
    write_core_series(tmp_path / "DICOM" / "0001", slices=4, series_uid=uid, file_prefix="A")
    write_core_series(tmp_path / "DICOM" / "0002", slices=4, series_uid=uid, file_prefix="B",
                      origin=(-10.0, -20.0, 34.0))
    write_core_series(tmp_path / "DICOM" / "0003", slices=4, seed=5)  # another series: no warning
    result = run_batch(tmp_path / "DICOM", tmp_path / "out")
    warned = {r.name: [w for w in r.warnings if "also has slices in" in w] for r in result.records}
    assert [r.status for r in result.records] == ["converted"] * 3
    assert warned == {"0001": ["its series (SeriesInstanceUID %s) also has slices in 0002: each folder is "
                               "converted as a core of its own" % uid],
                      "0002": ["its series (SeriesInstanceUID %s) also has slices in 0001: each folder is "
                               "converted as a core of its own" % uid],
                      "0003": []}
    again = run_batch(tmp_path / "DICOM", tmp_path / "out")  # resumed: the warning is not repeated
    assert [len(r.warnings) for r in again.records] == [len(r.warnings) for r in result.records]


def test_a_manifest_that_is_slow_to_write_is_written_less_often_and_completely_at_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of cores make a large manifest: rewriting it after every folder would grow with
    the square of the cores.  Here each rewrite is made to take 50 ms (the real writer, slowed)."""
    from CoreBatchLoaderLib.batch import run as batch
    write_well(tmp_path / "well", cores=12, slices=2, rows=8, columns=8)
    writes = []

    def slow_write(output_dir, records, *args, **kwargs):
        time.sleep(0.05)
        writes.append(len(records))
        return real_write(output_dir, records, *args, **kwargs)

    real_write = batch.write_manifest
    monkeypatch.setattr(batch, "write_manifest", slow_write)
    result = run_batch(tmp_path / "well", tmp_path / "out", BatchOptions(report=False))
    assert len(result.records) == 12 and 2 <= len(writes) < 12  # the first folder, then paced, then the end
    assert writes[-1] == 12 and len(json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]) == 12


def test_the_manifest_is_written_after_every_folder_while_that_is_cheap() -> None:
    from CoreBatchLoaderLib.batch.run import ManifestPace
    pace = ManifestPace()
    assert pace.due()
    pace.wrote(0.0)
    assert pace.due()
    pace.wrote(10.0)  # a 10 s rewrite: not again for 200 s
    assert not pace.due()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 600 KiB file system (tmpfs) for the output, when this machine lets the tests mount one."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount_point)],
                          capture_output=True)
    require(made.returncode == 0, "a tmpfs mount (mount -t tmpfs: root or CAP_SYS_ADMIN): %s"
            % made.stderr.decode().strip())
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_full_disk_stops_the_batch_with_one_line_and_a_rerun_resumes(small_disk: Path, tmp_path: Path,
                                                                      workers: int) -> None:
    write_well(tmp_path / "well", cores=4, slices=20, rows=64, columns=64)  # 164 KB a core: 3 fit
    full = subprocess.run(cli_command(tmp_path / "well", small_disk / "out", "--quiet", "--workers", workers),
                          capture_output=True, text=True, timeout=120)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
    assert re.search(r"stopped: output disk full while writing core_00\d\.nrrd \(No space left on device\)",
                     full.stderr), full.stderr
    recorded = json.loads((small_disk / "out" / "manifest.json").read_text())["cores"]
    if workers == 1:  # in order: the first three fit, the fourth does not
        assert [c["name"] for c in recorded] == ["core_001", "core_002", "core_003"]
    assert recorded and all(c["status"] == "converted" for c in recorded)
    # every core on disk is counted: in the manifest and in the summary (with 2 workers, one that
    # finished while the other hit the full disk was written but left out)
    assert sorted(p.stem for p in (small_disk / "out").glob("*.nrrd")) == [c["name"] for c in recorded]
    assert re.search(r"^%d converted, 0 skipped, 0 failed" % len(recorded), full.stdout, re.M), full.stdout
    for core in recorded:  # whatever the manifest lists is there and complete
        assert nrrd.read(str(small_disk / "out" / core["output"]))[0].shape == (64, 64, 20)
    assert partials(small_disk / "out") == []
    subprocess.run(["mount", "-o", "remount,size=2m", str(small_disk)], check=True)  # room made
    rerun = subprocess.run(cli_command(tmp_path / "well", small_disk / "out", "--quiet"), capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert re.search(r"(\d) converted, (\d) skipped, 0 failed", rerun.stdout), rerun.stdout
    converted, skipped = map(int, re.search(r"(\d) converted, (\d) skipped", rerun.stdout).groups())
    assert (converted + skipped, skipped) == (4, len(recorded))


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_with_status_130(tmp_path: Path, workers: int) -> None:
    _big_well(tmp_path)
    process = _start_and_wait_for_a_partial_file(tmp_path, "--workers", workers)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    assert partials(tmp_path / "out") == []
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())  # consistent JSON
    for core in manifest["cores"]:
        if core["status"] == "converted":
            assert (tmp_path / "out" / core["output"]).is_file()


def test_workers_are_forked_only_from_a_process_without_other_threads() -> None:
    """Forking is cheap (nothing imported again) but unsafe beside threads (Slicer, Dask, tqdm):
    a lock another thread holds would stay locked in the child forever."""
    import threading

    from CoreBatchLoaderLib.batch.run import worker_start_method
    if threading.active_count() == 1:
        can_fork = sys.platform.startswith("linux") and sys.version_info >= (3, 11)
        assert worker_start_method() == ("fork" if can_fork else "spawn")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert worker_start_method() == "spawn"
    finally:
        stop.set()
        other.join()
