"""`corebatchloader convert … --depths/--scene`: usage errors before any work, and the scene end to end."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module
from CoreBatchLoaderLib.synthetic import write_well

CORES = ("core_001", "core_002", "core_003")


def cli(*args: object, without_slicer: bool = False) -> subprocess.CompletedProcess:
    code = "import sys; from CoreBatchLoaderLib.cli import main; sys.exit(main(sys.argv[1:]))"
    if without_slicer:  # as if slicer-core were not installed: importing it fails
        code = "import sys; sys.modules['slicer'] = None; " + code
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def well(tmp_path: Path) -> Path:
    write_well(tmp_path / "well", cores=3, slices=4)
    return tmp_path / "well"


@pytest.mark.parametrize("table, extra, message", [
    ("2450.0 2450.004\n2450.004 2450.008\n", (), "2 depth rows for 3 cores"),
    ("1 2\n2 1.5\n3 4\n", (), "line 2: bottom 1.5 m is not below top 2 m"),
    ("1 2\n1.5 3\n3 4\n", (), "line 2: core core_002 (1.5–3 m) overlaps core core_001"),
    ("core,top,bottom\ncore_001,1,2\ncore_009,2,3\ncore_003,3,4\n", (),
     "no depth row for core core_002; rows naming no core of this batch: 'core_009' (line 3)"),
    ("core,top,bottom\ncore_001,1,2\ncore_001,2,3\ncore_003,3,4\n", (), "line 3: core core_001 listed twice"),
    ("1 2\n2 x\n3 4\n", (), "line 2: 'x' is not a depth in metres"),
    (None, ("--start-depth", "100"), "--start-depth and --core-length go together"),
    (None, ("--start-depth", "100", "--core-length", "-1"), "--core-length must be positive"),
    (None, ("--scene",), "--scene places cores at their depths"),
    ("1 2\n2 3\n3 4\n", ("--start-depth", "1", "--core-length", "1"), "either --depths or"),
])
def test_depth_errors_exit_2_before_any_core_is_converted(tmp_path: Path, well: Path, table: str,
                                                          extra: tuple, message: str) -> None:
    args = ["convert", well, tmp_path / "out", "--quiet", *extra]
    if table is not None:
        (tmp_path / "depths.txt").write_text(table)
        args += ["--depths", tmp_path / "depths.txt"]
    run = cli(*args)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not list((tmp_path / "out").glob("*.nrrd")) and not (tmp_path / "out" / "manifest.json").exists()


def test_a_missing_depth_file_is_a_usage_error_naming_it(tmp_path: Path, well: Path) -> None:
    run = cli("convert", well, tmp_path / "out", "--quiet", "--depths", tmp_path / "nope.csv")
    assert run.returncode == 2 and "nope.csv: cannot read the depth table" in run.stderr


def test_scene_without_slicer_core_is_a_usage_error_naming_the_package(tmp_path: Path, well: Path) -> None:
    run = cli("convert", well, tmp_path / "out", "--quiet", "--start-depth", "10", "--core-length", "0.004",
              "--scene", without_slicer=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert 'pip install "corebatchloader[scene]" (slicer-core' in run.stderr  # the exact extra, and the package
    assert not list((tmp_path / "out").glob("*.nrrd"))


def test_depths_without_scene_need_no_slicer_and_warn_about_lengths(tmp_path: Path, well: Path) -> None:
    run = cli("convert", well, tmp_path / "out", "--quiet", "--start-depth", "10", "--core-length", "0.5",
              without_slicer=True)
    assert run.returncode == 0, run.stderr
    assert "warning core_001: scanned length 4 mm differs from the depth interval 10.000–10.500 m" in run.stderr
    assert not (tmp_path / "out" / "scene.mrml").exists()


def test_the_cli_writes_the_scene_and_shows_the_well_strip_in_the_report(tmp_path: Path, well: Path) -> None:
    slicer = require_module("slicer", "slicer-core")
    run = cli("convert", well, tmp_path / "out", "--quiet", "--workers", "2", "--start-depth", "2450.5",
              "--core-length", "0.004", "--flip-all", "--scene", "--scene-memory", "1G", "--well-name", "Well 7")
    assert run.returncode == 0, run.stderr
    assert "scene: %s (3 cores, full resolution)" % (tmp_path / "out" / "scene.mrml").resolve() in run.stdout
    report = (tmp_path / "out" / "report.html").read_text()
    assert '<img src="well_strip.png"' in report
    assert (tmp_path / "out" / "well_strip.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(tmp_path / "out" / "scene.mrml"))
    assert scene.Import()
    names = sorted(scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode").GetName()
                   for n in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")))
    assert names == ["Well 7 overview", *CORES]
    core = scene.GetFirstNodeByName("core_003")
    assert core.GetAttribute("CoreBatchLoader.flip") == "1"
    bounds = [0.0] * 6
    core.GetRASBounds(bounds)
    assert bounds[5] == pytest.approx(-2450508.0, abs=0.01)


def test_a_well_named_in_portuguese_gets_its_proxies_and_scene(tmp_path: Path, well: Path) -> None:
    """The well's name goes into every proxy's NRRD header (UTF-8) and the scene's node names."""
    slicer = require_module("slicer", "slicer-core")
    run = cli("convert", well, tmp_path / "out", "--quiet", "--start-depth", "100", "--core-length", "0.004",
              "--scene", "--scene-memory", "1K", "--well-name", "Poço 7")
    assert run.returncode == 0 and "proxies 1:" in run.stdout, run.stderr
    assert len(list((tmp_path / "out" / "scene").glob("*_proxy.nrrd"))) == 3
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(tmp_path / "out" / "scene.mrml"))
    assert scene.Import() and scene.GetFirstNodeByName("Poço 7 overview") is not None


@pytest.mark.parametrize("size", ["lots", "0", "-5G"])
def test_a_bad_scene_memory_is_a_usage_error(tmp_path: Path, well: Path, size: str) -> None:
    run = cli("convert", well, tmp_path / "out", "--scene-memory", size)
    assert run.returncode == 2 and "--scene-memory" in run.stderr


def test_a_rerun_of_a_finished_well_reuses_the_scene_and_a_new_depth_rebuilds_it(tmp_path: Path,
                                                                                  well: Path) -> None:
    require_module("slicer", "slicer-core")
    args = ("convert", well, tmp_path / "out", "--quiet", "--start-depth", "2450.5", "--core-length", "0.004",
            "--scene")
    assert cli(*args).returncode == 0
    overview = tmp_path / "out" / "scene" / "overview.nrrd"
    first = overview.stat().st_mtime_ns
    assert cli(*args).returncode == 0
    assert overview.stat().st_mtime_ns == first  # nothing re-read, nothing rewritten
    moved = ("convert", well, tmp_path / "out", "--quiet", "--start-depth", "2460.5", "--core-length", "0.004",
             "--scene")
    assert cli(*moved).returncode == 0
    assert overview.stat().st_mtime_ns != first
    assert b"2460.5" in (tmp_path / "out" / "scene" / "core_001.nhdr").read_bytes()


@pytest.mark.parametrize("table", ["2450 2450.004\n2451 2451.004\n2452 2452.004\n",
                                   "core,top,bottom\ncore_003,2452,2452.004\ncore_001,2450,2450.004\n"
                                   "core_002,2451,2451.004\n"])
def test_a_depth_table_photos_and_a_readme_beside_the_core_folders_are_no_cores(tmp_path: Path, well: Path,
                                                                                 table: str) -> None:
    (well / "depths.csv").write_text(table)
    (well / "README.txt").write_text("well 7, cores 1-3\n")
    (well / "core_002.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (well / "photos").mkdir()
    (well / "photos" / "box1.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    run = cli("convert", well, tmp_path / "out", "--quiet", "--depths", well / "depths.csv")
    assert run.returncode == 0, run.stderr
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.nrrd")) == list(CORES)
