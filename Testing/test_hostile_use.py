"""Issue 19, "Robustness, round 3": what a hostile user and a failing machine found after the
first two rounds — each case ends as one line naming the option, file or folder, with the right
exit status, nothing lost, the report and manifest written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_module
from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.synthetic import write_well
from CoreBatchLoaderLib.well import depths as depth_tables
from CoreBatchLoaderLib.well.depths import DepthError, read_depth_table
from CoreBatchLoaderLib.well.options import SceneOptions


def cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def well(tmp_path: Path) -> Path:
    write_well(tmp_path / "well", cores=2, slices=4, rows=32, columns=32)
    return tmp_path / "well"


def assert_usage_error(run: subprocess.CompletedProcess, *named: str) -> None:
    """Exit status 2, the last line names what is wrong, no traceback."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert all(name in last for name in named), last


# --- options (class 13) and depths (class 12) --------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("--unwrap-radius", "1e400mm"), ("--unwrap-radius", "300mm"), ("--void-threshold", "nan"),
    ("--void-threshold", "inf"), ("--void-threshold", "-1e309"),
    ("--start-depth", "1e306"), ("--start-depth", "-70001"), ("--core-length", "1e300"),
])
def test_an_option_out_of_range_is_a_usage_error_naming_it(tmp_path: Path, well: Path, option: str,
                                                           value: str) -> None:
    extra = ("--core-length", "1") if option == "--start-depth" else ("--start-depth", "1") \
        if option == "--core-length" else ()
    run = cli("convert", well, tmp_path / "out", "--quiet", "%s=%s" % (option, value), *extra)
    assert_usage_error(run, option, value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("table, message", [
    ("1e308 2e308\n2e308 3e308\n", "line 1: 1e308 is not a depth in a well"),
    ("core,top,bottom\ncore_001,1,2\ncore_002,2,-9e300\n", "line 3: -9e300 is not a depth in a well"),
])
def test_a_depth_beyond_any_well_is_a_usage_error_naming_the_line(tmp_path: Path, well: Path, table: str,
                                                                 message: str) -> None:
    (tmp_path / "depths.txt").write_text(table)
    run = cli("convert", well, tmp_path / "out", "--quiet", "--depths", tmp_path / "depths.txt")
    assert_usage_error(run, "depths.txt", message, "±70000")
    assert not list((tmp_path / "out").glob("*.nrrd"))


def test_cores_laid_back_to_back_past_any_well_are_a_usage_error(tmp_path: Path, well: Path) -> None:
    run = cli("convert", well, tmp_path / "out", "--quiet", "--start-depth", "60000", "--core-length", "6000")
    assert_usage_error(run, "--core-length", "72000 m is not a depth in a well", "±70000")


# --- depth tables that are no files (class 11) -------------------------------------------------

def test_a_fifo_as_depth_table_is_refused_without_waiting_for_a_writer(tmp_path: Path, well: Path) -> None:
    os.mkfifo(tmp_path / "depths.fifo")
    run = cli("convert", well, tmp_path / "out", "--quiet", "--depths", tmp_path / "depths.fifo", timeout=120)
    assert_usage_error(run, "depths.fifo", "a FIFO", "regular file")


def test_dev_zero_as_depth_table_is_refused_without_reading_it(tmp_path: Path, well: Path) -> None:
    run = cli("convert", well, tmp_path / "out", "--quiet", "--depths", "/dev/zero", timeout=120)
    assert_usage_error(run, "/dev/zero", "a character device", "regular file")


def test_a_depth_table_past_the_size_limit_is_refused_saying_so(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "depths.csv"
    path.write_text("core,top,bottom\n" + "".join("c%d,%d,%d.5\n" % (n, n, n) for n in range(1, 200)))
    monkeypatch.setattr(depth_tables, "MAX_TABLE_BYTES", 1000)
    with pytest.raises(DepthError, match="depths.csv: more than 0 MB, too large for a depth table"):
        read_depth_table(path, ["c1"])


def test_a_whole_well_table_is_streamed_not_held(tmp_path: Path) -> None:
    """A table of 300,000 rows (10 MB) for a batch of two cores: memory stays a small share of
    the file (it was all of it as text, then again as a list of rows: 675 MB for 66 MB)."""
    path = tmp_path / "depths.csv"
    with open(path, "w") as table:
        table.write("core;top;bottom\n")
        for n in range(300_000):
            table.write("well7_box%06d;%d,25;%d,75\n" % (n, n % 60000, n % 60000))
    tracemalloc.start()
    try:
        depths = read_depth_table(path, ["well7_box000010", "well7_box000011"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (depths["well7_box000010"].top_m, depths["well7_box000011"].bottom_m) == (10.25, 11.75)
    assert peak < path.stat().st_size / 3, (peak, path.stat().st_size)


# --- a well name with line breaks (class 7) ------------------------------------------------------

@pytest.mark.parametrize("given", [True, False], ids=["--well-name", "input folder's name"])
def test_a_well_name_with_line_breaks_is_one_line_in_every_output(tmp_path: Path, given: bool) -> None:
    lasio = require_module("lasio", "lasio")
    hostile = "W\n~A 1 2: x\r\x1b[31m<b>&\"\x00"
    root = tmp_path / ("well" if given else hostile.replace("\x00", "").replace("/", ""))
    write_well(root, cores=2, slices=12, rows=48, columns=48)
    (tmp_path / "depths.csv").write_text("core,top,bottom\ncore_001,100,100.012\ncore_002,100.012,100.024\n")
    scene = SceneOptions(depths_file=tmp_path / "depths.csv", build_scene=True,
                         well_name=hostile if given else None, company="ACME\n~A 1: 2", uwi="7\r\n~O")
    result = run_batch(root, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False), scene=scene))
    assert result.well is not None and result.well.error is None and result.well.log.las is not None
    out = tmp_path / "out"
    clean = "W ~A 1 2: x [31m<b>&\""
    las = lasio.read(str(out / "well_ct_log.las"))
    assert las.well["WELL"].value == clean and len(las["DEPT"]) > 0
    assert (las.well["COMP"].value, str(las.well["UWI"].value)) == ("ACME ~A 1: 2", "7 ~O")
    assert not any(line.startswith("~A") and "x" in line for line in (out / "well_ct_log.las").read_text().splitlines())
    svg = ET.parse(str(out / "well_ct_log.svg")).getroot()
    assert clean in "".join(svg.itertext())
    scene_xml = ET.parse(str(out / "scene.mrml")).getroot()
    assert any(node.get("name", "").startswith(clean) for node in scene_xml.iter())
    assert not any("\n" in node.get("name", "") for node in scene_xml.iter())
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "\x00" not in page and "<b>&" not in page


# --- folders the walk cannot read (class 1), names that are not UTF-8 (class 2) -----------------

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24  # <linux/capability.h>, <linux/prctl.h>


def _drop_root_privileges() -> None:
    """In the child before it runs the batch: root keeps its uid (its Python lies under /root) but
    loses the two capabilities that let it read any file, so permission bits apply to it as to
    any user — a real EACCES from the kernel, no mocked os function."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def as_user(tmp_path: Path):
    """A preexec_fn under which permission bits apply (None when the tests run as a user)."""
    if sys.platform != "linux":
        pytest.skip("permission bits and capabilities as on Linux")
    if os.geteuid() != 0:
        return None
    probe = tmp_path / "probe"
    probe.mkdir(mode=0o000)
    try:
        run = subprocess.run([sys.executable, "-c", "import os; os.listdir(%r)" % str(probe)],
                             preexec_fn=_drop_root_privileges, capture_output=True, text=True)
    except subprocess.SubprocessError as exc:
        pytest.skip("cannot drop root's file capabilities here: %s" % exc)
    finally:
        probe.chmod(0o755)
    if "PermissionError" not in run.stderr:
        pytest.skip("root still reads a folder of mode 000 here")
    return _drop_root_privileges


@pytest.mark.parametrize("mode", [0o000, 0o444], ids=["000", "r--: listed, not entered"])
def test_a_core_folder_that_cannot_be_read_fails_by_name_with_exit_status_1(tmp_path: Path, well: Path, as_user,
                                                                             mode: int) -> None:
    import json
    from CoreBatchLoaderLib.synthetic import write_core_series
    write_core_series(well / "locked", slices=4, rows=32, columns=32)
    (well / "locked").chmod(mode)
    (well / "lost+found").mkdir(mode=0o700)  # a disk's own folder, root's: not a core, never a failure
    (well / "lost+found" / "inside").mkdir(mode=0o000)
    try:
        run = subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", "convert", str(well),
                              str(tmp_path / "out"), "--quiet"], capture_output=True, text=True, timeout=300,
                             preexec_fn=as_user)
    finally:
        (well / "locked").chmod(0o755)
        (well / "lost+found" / "inside").chmod(0o755)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "2 converted, 0 skipped, 1 failed" in run.stdout, run.stdout
    failed = [line for line in run.stderr.splitlines() if line.startswith("FAILED locked:")]
    assert len(failed) == 1 and "Permission denied" in failed[0], run.stderr
    cores = {c["name"]: c for c in json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]}
    assert cores["locked"]["status"] == "failed" and "Permission denied" in cores["locked"]["error"]
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "manifest.csv").is_file()


def test_a_folder_name_that_is_not_utf8_converts_under_a_safe_name_and_says_so(tmp_path: Path, well: Path) -> None:
    from CoreBatchLoaderLib.synthetic import write_core_series
    odd = os.fsdecode(bytes(well) + b"/box\xff3")  # a name from another system's archive
    write_core_series(odd, slices=4, rows=32, columns=32)
    for rerun in (False, True):
        result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
        records = {r.name: r for r in result.records}
        assert sorted(records) == ["box_3", "core_001", "core_002"], sorted(records)
        box = records["box_3"]
        assert box.status == ("skipped" if rerun else "converted"), box.error
        assert any("not valid UTF-8" in w and "box_3" in w for w in box.warnings), box.warnings
        assert result.exit_code == 0 and result.report is not None
        assert "box" in (tmp_path / "out" / "manifest.csv").read_text(encoding="utf-8")
        assert "box_3" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


# --- compressed slices cut short (class 3), File Meta with an unknown VR (class 4) -----------------

def _compress(files, syntax: str) -> None:
    if syntax == "rle":
        import pydicom
        from pydicom.uid import RLELossless
        for path in files:
            ds = pydicom.dcmread(path)
            ds.compress(RLELossless)
            ds.save_as(path)
        return
    gdcm_compressed = pytest.importorskip("compressed")
    for path in files:
        gdcm_compressed.transcode(path, gdcm_compressed.SYNTAXES[syntax])


@pytest.mark.parametrize("syntax", ["jpeg_lossless_sv1", "rle", "jpeg2000_lossless"])
@pytest.mark.parametrize("cut", [2, 5], ids=["a middle slice", "the last slice"])
def test_a_compressed_slice_cut_short_fails_its_core_naming_the_slice(tmp_path: Path, well: Path, syntax: str,
                                                                      cut: int) -> None:
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "short", slices=6, rows=32, columns=32)
    _compress(series.files, syntax)
    data = series.files[cut].read_bytes()
    series.files[cut].write_bytes(data[:len(data) - 40])  # inside the last fragment
    result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
    records = {r.name: r for r in result.records}
    assert records["core_001"].status == "converted"
    short = records["short"]
    assert short.status == "failed", short.warnings
    assert series.files[cut].name in short.error and "truncated" in short.error, short.error
    assert "ends before" not in short.error
    assert not (tmp_path / "out" / "short.nrrd").exists() and result.exit_code == 1


def test_a_slice_with_an_unknown_vr_in_its_file_meta_is_named(tmp_path: Path, well: Path) -> None:
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "odd", slices=5, rows=32, columns=32)
    data = series.files[1].read_bytes()
    at = data.index(b"\x02\x00\x02\x00UI")  # (0002,0002) MediaStorageSOPClassUID, explicit VR
    series.files[1].write_bytes(data[:at] + b"\x02\x00\x02\x00UK" + data[at + 6:])
    result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
    odd = {r.name: r for r in result.records}["odd"]
    said = odd.error or " ".join(odd.warnings)
    if odd.status == "converted" and "IM0002.dcm" not in said:  # pydicom 2 reads an unknown VR as UN
        assert odd.dimensions[2] == 5, odd  # and the slice is in the volume
        return
    assert "IM0002.dcm" in said and "(0002,0002)" in said.replace(", ", ",") and "UK" in said, (odd.status, said)
    assert "scan failed" not in said


# --- a frame count that contradicts the file (class 5) ---------------------------------------------

@pytest.mark.parametrize("claimed", [0, 4])
def test_a_number_of_frames_that_contradicts_the_file_fails_naming_both_numbers(tmp_path: Path, well: Path,
                                                                               claimed: int) -> None:
    import pydicom
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "enhanced", slices=10, rows=32, columns=32, multiframe=True)
    ds = pydicom.dcmread(series.files[0])
    ds.NumberOfFrames = claimed
    ds.save_as(series.files[0])
    result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
    record = {r.name: r for r in result.records}["enhanced"]
    assert record.status == "failed" and result.exit_code == 1
    assert series.files[0].name in record.error and "(0028,0008) NumberOfFrames" in record.error
    assert ("is %d" % claimed) in record.error and "10" in record.error, record.error


# --- a Modality LUT whose values no output type holds (class 6) ---------------------------------

@pytest.mark.parametrize("changes, named", [
    ({"RescaleSlope": "0.5", "RescaleIntercept": "1e39"}, "(0028,1052) RescaleIntercept 1e+39"),
    ({"RescaleSlope": "1e35", "RescaleIntercept": "3.5e38"}, "(0028,1053) RescaleSlope 1e+35"),
    ({"Rows": 0}, "(0028,0010) Rows is 0"),
])
def test_values_no_output_type_holds_fail_the_core_naming_the_tags(tmp_path: Path, well: Path, changes: dict,
                                                                   named: str) -> None:
    import warnings

    import pydicom
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "huge", slices=4, rows=32, columns=32)
    for path in series.files[1:3]:
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's overflow warnings were on stderr
        result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
    record = {r.name: r for r in result.records}["huge"]
    assert record.status == "failed" and result.exit_code == 1, (record.status, record.type)
    assert "IM0002.dcm" in record.error and named in record.error, record.error
    assert "internal error" not in record.error
    assert not (tmp_path / "out" / "huge.nrrd").exists()


# --- an output damaged after the run (class 8) ------------------------------------------------------

def test_an_output_damaged_after_the_run_is_converted_again_saying_why(tmp_path: Path, well: Path) -> None:
    options = BatchOptions(convert=ConvertOptions(durable=False))
    run_batch(well, tmp_path / "out", options)
    target = tmp_path / "out" / "core_001.nrrd"
    whole = target.read_bytes()
    with open(target, "r+b") as volume:
        volume.truncate(1000)
    again = run_batch(well, tmp_path / "out", options)
    records = {r.name: r for r in again.records}
    assert records["core_002"].status == "skipped"
    assert records["core_001"].status == "converted", records["core_001"]
    assert any(w.startswith("converted again: core_001.nrrd changed since the last run") and "now 1000 bytes" in w
               for w in records["core_001"].warnings), records["core_001"].warnings
    assert target.read_bytes() == whole and again.exit_code == 0
    third = run_batch(well, tmp_path / "out", options)
    assert [r.status for r in third.records] == ["skipped", "skipped"]


# --- the output disk fills after the cores (class 9) or before the first (class 10) ----------------

@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest):
    """A tmpfs of ``request.param`` for the output, when this machine lets the tests mount one."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % getattr(request, "param", "2m"), "tmpfs",
                           str(mount_point)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % made.stderr.decode().strip())
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill_disk_leaving(folder: Path, room: int) -> Path:
    """Fill the file system of ``folder`` (ENOSPC, a real full disk), then free ``room`` bytes."""
    filler = folder / "filler"
    with open(filler, "wb") as stream:
        block = bytes(1 << 16)
        try:
            while True:
                stream.write(block)
                stream.flush()
        except OSError:
            pass
        try:
            stream.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - size % 4096 - room))
    return filler


@pytest.mark.parametrize("room, depths, step", [
    (0, True, "manifest.json"),
    (4096, True, "the well's CT log and scene"),
    (4096, False, "report.html and manifest.csv"),
], ids=["manifest", "CT log", "report"])
def test_a_disk_full_after_the_cores_stops_with_the_same_line_and_the_rerun_writes_the_rest(
        tmp_path: Path, small_disk: Path, room: int, depths: bool, step: str) -> None:
    write_well(tmp_path / "well", cores=2, slices=12, rows=48, columns=48)
    scene = SceneOptions(start_depth_m=100.0, core_length_m=0.012) if depths else SceneOptions()
    options = BatchOptions(convert=ConvertOptions(durable=False), scene=scene)
    out = small_disk / "out"

    def after_the_last_core(progress) -> bool:
        if progress.folders_done == progress.folders_total:
            fill_disk_leaving(small_disk, room)
        return False

    full = run_batch(tmp_path / "well", out, options, progress=after_the_last_core)
    assert full.exit_code == 1 and [r.status for r in full.records] == ["converted", "converted"]
    assert (full.stopped or "").startswith("output disk full while writing %s (No space left on device)" % step), \
        full.stopped
    assert not list(out.glob("*.partial")) and not list(out.glob("*/*.partial"))
    (small_disk / "filler").unlink()
    rerun = run_batch(tmp_path / "well", out, options)
    assert rerun.exit_code == 0 and rerun.stopped is None
    assert [r.status for r in rerun.records] == ["skipped", "skipped"]
    assert (out / "report.html").is_file() and (out / "manifest.csv").is_file()
    if depths:
        assert rerun.well is not None and rerun.well.log.las == out / "well_ct_log.las" and rerun.well.log.las.is_file()


@pytest.mark.parametrize("small_disk", ["64k"], indirect=True)
def test_a_disk_full_before_the_first_core_gives_only_the_true_reason(tmp_path: Path, small_disk: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=20, rows=64, columns=64)  # 164 KB a core
    run = cli("convert", tmp_path / "well", small_disk / "out", "--quiet")
    assert run.returncode == 1, run.stderr
    assert re.search(r"stopped: output disk full while writing core_00[12]\.nrrd", run.stderr), run.stderr
    assert "0 converted, 0 skipped, 0 failed" in run.stdout, run.stdout
    assert "no DICOM" not in run.stderr and "Traceback" not in run.stderr


# --- the minor items ---------------------------------------------------------------------------------

def test_the_gantry_tilt_warning_says_how_far_voxels_sit_from_their_positions(tmp_path: Path, well: Path) -> None:
    import pydicom
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "tilted", slices=12, rows=32, columns=32)
    for path in series.files:
        ds = pydicom.dcmread(path)
        k = round((float(ds.ImagePositionPatient[2]) - float(pydicom.dcmread(series.files[0]).ImagePositionPatient[2])))
        ds.ImagePositionPatient[0] = float(ds.ImagePositionPatient[0]) + 0.05 * abs(k)  # 0.05 mm a slice
        ds.save_as(path)
    result = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False)))
    record = {r.name: r for r in result.records}["tilted"]
    assert record.status == "converted"
    tilt = [w for w in record.warnings if "gantry tilt" in w]
    assert len(tilt) == 1 and "a voxel sits up to 0.550 mm from where its slice's (0020,0032)" in tilt[0], tilt


def test_a_read_only_thumbnails_folder_is_said_on_the_console(tmp_path: Path, well: Path, as_user) -> None:
    out = tmp_path / "out"
    (out / "thumbnails").mkdir(parents=True)
    (out / "thumbnails").chmod(0o555)
    try:
        run = subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", "convert", str(well), str(out),
                              "--quiet", "--workers", "1"], capture_output=True, text=True, timeout=300,
                             preexec_fn=as_user)
    finally:
        (out / "thumbnails").chmod(0o755)
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stderr.splitlines() if "pictures not drawn" in line]
    assert len(said) == 1 and said[0].startswith("corebatchloader: warning: 2 core pictures not drawn (core_001, "
                                                  "core_002)") and "Permission denied" in said[0], run.stderr


def test_a_scheduler_address_where_no_dask_answers_is_one_line(tmp_path: Path, well: Path) -> None:
    """Something else answers on the address (here: an HTTP server's "400 Bad Request" to every
    connection): Dask's client waited forever, or read "HTTP/1.0" as a length (3.07 EiB)."""
    pytest.importorskip("distributed")
    import socketserver
    import threading

    from CoreBatchLoaderLib.batch.run import UsageError

    class NotDask(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), NotDask)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = "tcp://127.0.0.1:%d" % server.server_address[1]
    try:
        with pytest.raises(UsageError) as error:
            run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False), scheduler=address))
    finally:
        server.shutdown()
        server.server_close()
    message = str(error.value)
    assert message.startswith("cannot reach the Dask scheduler at %s (" % address), message
    assert "allocate" not in message and "\n" not in message


def test_slices_above_the_pixel_limit_fail_before_any_is_read_unless_asked(tmp_path: Path, well: Path) -> None:
    from CoreBatchLoaderLib.synthetic import write_core_series
    write_core_series(well / "wide", slices=4, rows=64, columns=64)
    limited = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False,
                                                                                      max_slice_pixels=4000)))
    wide = {r.name: r for r in limited.records}["wide"]
    assert wide.status == "failed" and limited.exit_code == 1
    assert "IM0001.dcm: (0028,0010) Rows × (0028,0011) Columns is 64 × 64 = 4096 pixels a slice" in wide.error
    assert "--max-slice-pixels 4096" in wide.error
    asked = run_batch(well, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False,
                                                                                    max_slice_pixels=4096)))
    assert {r.name: r.status for r in asked.records}["wide"] == "converted"


def test_a_header_claiming_40000_squared_pixels_over_a_sparse_file_is_refused(tmp_path: Path, well: Path) -> None:
    import pydicom
    from CoreBatchLoaderLib.synthetic import write_core_series
    series = write_core_series(well / "sparse", slices=2, rows=8, columns=8)
    claimed = 40000 * 40000 * 2
    for path in series.files:
        ds = pydicom.dcmread(path)
        ds.Rows = ds.Columns = 40000
        ds.save_as(path)
        data = path.read_bytes()
        at = data.rindex(b"\xe0\x7f\x10\x00OW\x00\x00")
        path.write_bytes(data[:at + 8] + claimed.to_bytes(4, "little"))
        os.truncate(path, at + 12 + claimed)  # a sparse file: no block of its 3.2 GB written
    run = cli("convert", well, tmp_path / "out", "--quiet", "--workers", "1")
    assert run.returncode == 1, run.stderr
    failed = [line for line in run.stderr.splitlines() if line.startswith("FAILED sparse:")]
    assert len(failed) == 1 and "40000 × 40000 = 1600000000 pixels a slice" in failed[0], run.stderr
