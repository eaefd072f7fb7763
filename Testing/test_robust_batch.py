"""Issue 15 items 7, 9, 10, 12: special files, a read-only output, names that never move, options
and wording — one line and the right exit status, never a hang or a traceback."""
from __future__ import annotations

import concurrent.futures
import errno
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import by_name, convert_tree, require
from CoreBatchLoaderLib.files import AtomicFile
from CoreBatchLoaderLib.synthetic import write_core_series, write_well
from test_cli import cli, manifest


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_like_a_slice_is_never_opened_and_is_named_in_a_warning(tmp_path: Path) -> None:
    write_core_series(tmp_path / "well" / "core", slices=4)
    os.mkfifo(tmp_path / "well" / "core" / "IM0099.dcm")  # nobody ever writes to it
    os.symlink("/dev/zero", tmp_path / "well" / "core" / "IM0100.dcm")  # a device reads forever
    run = subprocess.run(_cli_args("convert", tmp_path / "well", tmp_path / "out", "--quiet"),
                         capture_output=True, text=True, timeout=120)  # a hang fails, not blocks
    assert run.returncode == 0, run.stderr
    core = manifest(tmp_path / "out")["cores"][0]
    assert core["status"] == "converted" and core["dimensions"][2] == 4
    assert any("IM0099.dcm" in w and "FIFO" in w for w in core["warnings"]), core["warnings"]
    assert any("IM0100.dcm" in w and "device" in w for w in core["warnings"]), core["warnings"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("swap", ["fifo", "device"])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_slice_swapped_for_a_fifo_or_a_device_after_its_header_was_read_fails_its_core(
        tmp_path: Path, swap: str, compressed: bool) -> None:
    """Between the header scan and the pixel read (minutes apart in a long batch) a slice file
    becomes a FIFO or a link to /dev/zero: the core fails with one line naming the slice — no
    hang, no volume with a slice of zeros.  Compressed slices too: pydicom decodes them, and
    its own open of a FIFO hung the batch."""
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    from CoreBatchLoaderLib.convert import ConvertOptions, convert_core
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    write_core_series(tmp_path / "well" / "core", slices=4,
                      transfer_syntax=RLELossless if compressed else ExplicitVRLittleEndian)
    core = scan_folder(find_core_folders(tmp_path / "well")[0]).cores[0]
    victim = tmp_path / "well" / "core" / "IM0002.dcm"
    victim.unlink()
    if swap == "fifo":
        os.mkfifo(victim)  # nobody ever writes to it
    else:
        os.symlink("/dev/zero", victim)
    (tmp_path / "out").mkdir()
    records = []
    worker = threading.Thread(target=lambda: records.append(
        convert_core(core, tmp_path / "out", ConvertOptions(durable=False))), daemon=True)
    worker.start()
    worker.join(timeout=60)  # a hang fails the test, and the daemon thread does not hold the suite
    if not records and swap == "fifo":  # let the hung reader go: a writer that closes gives it an end of file
        os.close(os.open(victim, os.O_WRONLY | os.O_NONBLOCK))
    assert records, "the conversion hung on the swapped slice"
    record = records[0]
    assert record.status == "failed", record
    assert "IM0002.dcm" in record.error and ("FIFO" if swap == "fifo" else "device") in record.error, record.error
    assert not list((tmp_path / "out").glob("*.nrrd"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_file_swapped_for_a_fifo_while_pydicom_reads_its_header_is_an_os_error_not_a_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header of a file the fast scanner leaves (here RLE) is read by pydicom; a FIFO swapped
    in after the scanner looked at it is refused like any FIFO named like a slice (an OSError:
    the folder's scan names it in a warning), where pydicom's own open hung."""
    from pydicom.uid import RLELossless

    from CoreBatchLoaderLib.dicom import headers
    from CoreBatchLoaderLib.dicom.header_scanner import NotRegularFile

    write_core_series(tmp_path / "core", slices=2, transfer_syntax=RLELossless)
    victim = str(tmp_path / "core" / "IM0001.dcm")
    scan_header = headers.scan_header

    def swapped_after_scanning(path: str):
        scanned = scan_header(path)
        if path == victim:
            os.unlink(path)
            os.mkfifo(path)  # nobody ever writes to it
        return scanned

    monkeypatch.setattr(headers, "scan_header", swapped_after_scanning)
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(headers.read_slice_headers(victim))
        except Exception as exc:  # what the scan of the folder gets
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)
    if not outcome:  # let the hung reader go: a writer that closes gives it an end of file
        os.close(os.open(victim, os.O_WRONLY | os.O_NONBLOCK))
    assert outcome, "pydicom's open hung on the FIFO"
    assert isinstance(outcome[0], NotRegularFile) and "FIFO" in str(outcome[0]), outcome


def _cli_args(*args: object) -> list:
    import sys
    return [sys.executable, "-m", "CoreBatchLoaderLib.cli", *map(str, args)]


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A folder on a read-only file system (root ignores permission bits, not a read-only mount)."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    require(made.returncode == 0, "a tmpfs mount (mount -t tmpfs: root or CAP_SYS_ADMIN): %s"
            % made.stderr.decode().strip())
    (mount_point / "out").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
    yield mount_point / "out"
    subprocess.run(["umount", str(mount_point)], check=True)


def test_an_existing_read_only_output_folder_is_one_line_and_exit_status_2(tmp_path: Path,
                                                                             read_only_folder: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=3)
    run = cli("convert", tmp_path / "well", read_only_folder, "--quiet")
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert "cannot write in the output folder" in run.stderr and "Read-only" in run.stderr


def test_a_new_colliding_folder_never_renames_the_cores_already_converted(tmp_path: Path) -> None:
    well = tmp_path / "well"
    write_core_series(well / "well7" / "box3", slices=3, seed=1)
    write_core_series(well / "well7_box3", slices=3, seed=2)
    first = cli("convert", well, tmp_path / "out", "--quiet")
    assert first.returncode == 0, first.stderr
    names = {Path(c["source"]).relative_to(well.resolve()).as_posix(): c["name"]
             for c in manifest(tmp_path / "out")["cores"]}
    write_core_series(well / "well7+box3", slices=3, seed=3)
    for extra in ([], ["--overwrite"]):
        rerun = cli("convert", well, tmp_path / "out", "--quiet", *extra)
        assert rerun.returncode == 0, rerun.stderr
        cores = {Path(c["source"]).relative_to(well.resolve()).as_posix(): c for c in manifest(tmp_path / "out")["cores"]}
        assert {path: cores[path]["name"] for path in names} == names  # the old names stay
        assert len({c["name"] for c in cores.values()}) == 3
        assert all(c["status"] in ("converted", "skipped") for c in cores.values())


def test_colliding_names_come_from_the_folders_not_from_the_order_they_are_found(tmp_path: Path) -> None:
    for order in (("a/b", "a_b"), ("a_b", "a/b")):  # the same folders, created in either order
        well = tmp_path / ("well_" + order[0].replace("/", ""))
        for folder in order:
            write_core_series(well / folder, slices=3)
        alone = tmp_path / ("alone_" + order[0].replace("/", ""))
        write_core_series(alone / order[0], slices=3)
        names = {Path(r.source).relative_to(well.resolve()).as_posix(): r.name
                 for r in convert_tree(well, tmp_path / ("out_" + well.name)).records}
        assert names["a/b"] != names["a_b"] and all(n.startswith("a_b") for n in names.values())
        assert names == {"a/b": names["a/b"], "a_b": names["a_b"]}
    first, second = [json.loads((tmp_path / ("out_well_" + o) / "manifest.json").read_text())["cores"]
                     for o in ("ab", "a_b")]
    assert sorted(c["name"] for c in first) == sorted(c["name"] for c in second)


@pytest.mark.parametrize("option", [["--start-depth", "nan", "--core-length", "1"],
                                    ["--start-depth", "2450", "--core-length", "inf"],
                                    ["--start-depth", "1e309", "--core-length", "1"]])
def test_non_finite_depth_options_are_usage_errors_before_anything_is_written(tmp_path: Path, option: list) -> None:
    write_well(tmp_path / "well", cores=1, slices=3)
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", *option)
    assert run.returncode == 2 and "finite" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cell", ["nan", "inf", "1e309"])
def test_non_finite_cells_of_a_depth_table_are_usage_errors_before_anything_is_written(tmp_path: Path,
                                                                                       cell: str) -> None:
    write_well(tmp_path / "well", cores=2, slices=3)
    table = tmp_path / "depths.csv"
    table.write_text("core,top,bottom\ncore_001,2450.0,2450.9\ncore_002,2450.9,%s\n" % cell)
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--depths", table)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert cell in run.stderr
    assert not list((tmp_path / "out").glob("*.nrrd")) if (tmp_path / "out").exists() else True


def test_an_error_on_a_temporary_file_names_the_final_file(tmp_path: Path) -> None:
    final = tmp_path / "missing-folder" / "core.nrrd"
    with pytest.raises(OSError) as caught:
        with AtomicFile(final):
            pass
    assert caught.value.errno == errno.ENOENT and caught.value.filename == str(final)
    assert ".partial" not in str(caught.value)


def test_a_thumbnails_path_that_is_a_file_is_a_warning(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thumbnails").write_text("not a folder")
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "warning: thumbnails in" in run.stderr and "is a file, not a folder" in run.stderr
    assert (tmp_path / "out" / "thumbnails").read_text() == "not a folder"


def test_more_workers_than_folders_start_no_idle_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    real = concurrent.futures.ProcessPoolExecutor

    class CountingPool(real):  # the real pool, counting the processes it is asked for
        def __init__(self, max_workers: int, **kwargs: object) -> None:
            started.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", CountingPool)
    write_well(tmp_path / "well", cores=2, slices=3)
    result = convert_tree(tmp_path / "well", tmp_path / "out", workers=8)
    assert [r.status for r in result.records] == ["converted"] * 2 and started == [2]
    convert_tree(tmp_path / "well", tmp_path / "out1", workers=8, overwrite=True)
    write_well(tmp_path / "one", cores=1, slices=3)
    started.clear()
    assert by_name(convert_tree(tmp_path / "one", tmp_path / "out2", workers=8))["core_001"].status == "converted"
    assert started == []  # one folder: no pool at all
