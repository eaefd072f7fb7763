"""Issue 19, "Robustness, round 3": what a hostile user and a failing machine found after the
first two rounds — each case ends as one line naming the option, file or folder, with the right
exit status, nothing lost, the report and manifest written."""
from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
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
    lasio = pytest.importorskip("lasio")
    hostile = "W\n~A 1 2: x\r\x1b[31m<b>&\"\x00"
    root = tmp_path / ("well" if given else hostile.replace("\x00", "").replace("/", ""))
    write_well(root, cores=2, slices=12, rows=48, columns=48)
    (tmp_path / "depths.csv").write_text("core,top,bottom\ncore_001,100,100.012\ncore_002,100.012,100.024\n")
    scene = SceneOptions(depths_file=tmp_path / "depths.csv", build_scene=True,
                         well_name=hostile if given else None)
    result = run_batch(root, tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False), scene=scene))
    assert result.well is not None and result.well.error is None and result.well.log.las is not None
    out = tmp_path / "out"
    clean = "W ~A 1 2: x [31m<b>&\""
    las = lasio.read(str(out / "well_ct_log.las"))
    assert las.well["WELL"].value == clean and len(las["DEPT"]) > 0
    assert not any(line.startswith("~A") and "x" in line for line in (out / "well_ct_log.las").read_text().splitlines())
    svg = ET.parse(str(out / "well_ct_log.svg")).getroot()
    assert clean in "".join(svg.itertext())
    scene_xml = ET.parse(str(out / "scene.mrml")).getroot()
    assert any(node.get("name", "").startswith(clean) for node in scene_xml.iter())
    assert not any("\n" in node.get("name", "") for node in scene_xml.iter())
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "\x00" not in page and "<b>&" not in page
