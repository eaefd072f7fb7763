"""The well's outputs tell the truth about the run that made them: every converted core is placed
at depth or named where it is missing (a folder holding several series), a rerun with moved or
flipped cores redoes what depends on the depth, and a rerun that no longer makes a well-level
or analysis file does not leave the old one behind."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest
from conftest import by_name, require_module

from CoreBatchLoaderLib.analysis.ct_log import read_log_csv
from CoreBatchLoaderLib.analysis.unwrap import FIRST_ROW_KEY
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.cli import main
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.nrrd.reader import read_header, read_slice
from CoreBatchLoaderLib.synthetic import write_core_series
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, well_of_phantoms
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = require_module("lasio", "lasio")

GEOMETRY = dict(rows=64, columns=64, slices=20, pixel_spacing=(0.5, 0.5), slice_spacing=1.0)


def two_series_in_one_folder(root: Path) -> Path:
    """``boxA`` holds two series (cores boxA_s1 and boxA_s2), ``boxB`` one."""
    write_core_series(root / "in" / "boxA", series_number=1, seed=1, file_prefix="A", **GEOMETRY)
    write_core_series(root / "in" / "boxA", series_number=2, seed=2, file_prefix="B", origin=(-10.0, -20.0, 100.0),
                      **GEOMETRY)
    write_core_series(root / "in" / "boxB", series_number=1, seed=3, **GEOMETRY)
    return root / "in"


def convert(root: Path, table: Optional[str], out: str = "out", scene: bool = False, **convert: object) -> BatchResult:
    depths = SceneOptions()
    if table is not None:
        (root / "depths.csv").write_text(table)
        depths = SceneOptions(depths_file=root / "depths.csv", build_scene=scene, memory_budget=10 ** 9)
    return run_batch(root / "in", root / out, BatchOptions(convert=ConvertOptions(durable=False, **convert),
                                                           workers=1, scene=depths))


def test_a_folder_row_for_a_folder_holding_two_series_names_both_cores_everywhere(tmp_path: Path, capsys) -> None:
    two_series_in_one_folder(tmp_path)
    (tmp_path / "depths.csv").write_text("core,top,bottom\nboxA,100.0,100.02\nboxB,100.05,100.07\n")
    code = main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--depths", str(tmp_path / "depths.csv"),
                 "--no-fsync", "--quiet", "--workers", "1"])
    summary = capsys.readouterr().err
    assert code == 1  # a converted core missing from the well is not a clean run
    out = tmp_path / "out"
    las = lasio.read(str(out / "well_ct_log.las"))
    report = (out / "report.html").read_text()
    for core in ("boxA_s1", "boxA_s2"):
        warning = next(w for w in by_name_in(out)[core] if w.startswith("no depth"))
        # the folder, both its cores and what to write instead
        assert all(text in warning for text in ("folder boxA (line 2)", "boxA_s1, boxA_s2", '"boxA_s1,TOP,BOTTOM"',
                                                '"boxA_s2,TOP,BOTTOM"'))
        assert "warning %s: %s" % (core, warning) in summary
        assert "%s: %s" % (core, warning) in las.other
        assert core in report and "boxA_s2,TOP,BOTTOM" in report
    assert [p.descr for p in las.params] == ["boxB top", "boxB bottom"]


def by_name_in(out: Path) -> Dict[str, list]:
    from CoreBatchLoaderLib.batch.manifest import read_manifest
    return {r.name: r.warnings for r in read_manifest(out)}


def test_rows_naming_each_core_of_the_folder_place_both_in_the_las_and_the_scene(tmp_path: Path) -> None:
    require_module("slicer", "slicer-core")
    import slicer
    two_series_in_one_folder(tmp_path)
    result = convert(tmp_path, "core,top,bottom,flip\nboxA_s2,100.1,100.12,yes\nboxA_s1,100.0,100.02,\n"
                               "boxB,100.05,100.07,\n", scene=True)
    assert result.exit_code == 0 and result.well.unplaced == []
    las = lasio.read(str(tmp_path / "out" / "well_ct_log.las"))
    assert [(p.descr, p.value) for p in las.params if p.mnemonic.startswith("TOP")] == [
        ("boxA_s1 top", 100.0), ("boxB top", 100.05), ("boxA_s2 top", 100.1)]
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(tmp_path / "out" / "scene.mrml"))
    assert scene.Import()
    tops = {}
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode")
        if node.GetAttribute("CoreBatchLoader.top_m") is not None:
            tops[node.GetName()] = (float(node.GetAttribute("CoreBatchLoader.top_m")), node.GetImageData() is not None)
    assert tops == {"boxA_s1": (100.0, True), "boxA_s2": (100.1, True), "boxB": (100.05, True)}


def test_rows_for_cores_of_a_folder_holding_one_series_name_the_core_to_write(tmp_path: Path) -> None:
    write_core_series(tmp_path / "in" / "boxA", series_number=1, seed=1, **GEOMETRY)
    result = convert(tmp_path, "core,top,bottom\nboxA_s1,100.0,100.02\nboxA_s2,100.1,100.12\n")
    assert result.exit_code == 1
    assert result.well.unplaced == [
        "boxA: no depth: the depth table has rows for boxA_s1, boxA_s2 (line 2, line 3) of folder boxA but none "
        "for boxA; add a row \"boxA,TOP,BOTTOM\" (the folder holds boxA)"]
    assert result.well.unplaced[0].split(": ", 1)[1] in by_name(result)["boxA"].warnings


PHANTOMS = [CorePhantom(rows=96, columns=96, slices=40, diameter_mm=30.0, layers=(Layer(10, 2500.0), Layer(100, 1200.0))),
            CorePhantom(rows=96, columns=96, slices=40, diameter_mm=30.0, layers=(Layer(25, 600.0), Layer(100, 1800.0)))]
FIRST = "core,top,bottom,flip\ncore_001,2450.00,2450.04,\ncore_002,2450.05,2450.09,\n"
MOVED_AND_FLIPPED = "core,top,bottom,flip\ncore_001,2451.00,2451.04,yes\ncore_002,2450.05,2450.09,\n"


def depth_outputs(out: Path, core: str) -> tuple:
    """What of ``core``'s outputs depends on its depth: the unwrap's first-row depth and rows, the
    CT log's depth column."""
    unwrap = read_header(out / "unwrap" / ("%s_unwrap.nrrd" % core))
    first, values, _, _ = read_log_csv(out / "logs" / ("%s.csv" % core))
    return unwrap.key_values.get(FIRST_ROW_KEY), read_slice(unwrap, 0), first, values


def test_a_rerun_with_a_core_moved_and_flipped_gives_what_a_fresh_run_gives(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST, scene=True).exit_code == 0
    before = depth_outputs(tmp_path / "out", "core_001")
    rerun = convert(tmp_path, MOVED_AND_FLIPPED, scene=True)
    fresh = convert(tmp_path, MOVED_AND_FLIPPED, out="fresh", scene=True)
    assert rerun.exit_code == 0 and fresh.exit_code == 0
    again, new = depth_outputs(tmp_path / "out", "core_001"), depth_outputs(tmp_path / "fresh", "core_001")
    assert again[0] == new[0] == repr(2451.0 + 0.0005) != before[0]
    assert np.array_equal(again[1], new[1]) and np.array_equal(again[1], before[1][::-1])  # top first: flipped
    assert again[2] == new[2] == "DEPT[M]" and np.allclose(again[3], new[3]) and new[3][-1] == pytest.approx(2451.0005)
    for picture in ("well_unwrap.png", "well_strip.png", "thumbnails/core_001.png"):
        assert (tmp_path / "out" / picture).read_bytes() == (tmp_path / "fresh" / picture).read_bytes(), picture
    assert by_name(rerun)["core_001"].status == "converted"  # its depth changed
    assert by_name(rerun)["core_002"].status == "skipped"  # its depth did not: nothing to redo


WELL_LEVEL = ("well_ct_log.las", "well_ct_log.csv", "well_ct_log.schema.csv", "well_ct_log.svg", "scene.mrml",
              "well_strip.png", "well_unwrap.png")


def test_a_rerun_without_depths_leaves_no_well_file_of_the_last_run(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST, scene=True).exit_code == 0
    out = tmp_path / "out"
    assert all((out / name).exists() for name in WELL_LEVEL) and list((out / "scene").glob("*.nhdr"))
    (out / "scene" / "notes.txt").write_text("mine")  # not the batch's: stays
    assert convert(tmp_path, None).exit_code == 0
    assert [name for name in WELL_LEVEL if (out / name).exists()] == []
    assert sorted(p.name for p in (out / "scene").iterdir() if not p.name.startswith(".")) == ["notes.txt"]
    report = (out / "report.html").read_text()
    assert "well_strip.png" not in report and "well_unwrap.png" not in report and "well_ct_log.svg" not in report


def test_a_rerun_with_depths_but_no_scene_keeps_the_log_and_drops_the_old_scene(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST, scene=True).exit_code == 0
    out = tmp_path / "out"
    assert convert(tmp_path, FIRST).exit_code == 0
    assert [name for name in WELL_LEVEL if (out / name).exists()] == [
        "well_ct_log.las", "well_ct_log.csv", "well_ct_log.schema.csv", "well_ct_log.svg"]
    assert not [p for p in (out / "scene").iterdir() if not p.name.startswith(".")]


def test_a_rerun_with_no_unwrap_and_no_ct_log_removes_the_reconverted_cores_analysis_files(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST, scene=True).exit_code == 0
    out = tmp_path / "out"
    names = ["unwrap/core_001_unwrap.nrrd", "unwrap/core_001_unwrap.png", "logs/core_001.csv"]
    assert all((out / name).exists() for name in names)
    rerun = convert(tmp_path, FIRST, scene=True, unwrap_radius=None, ct_log=False)
    assert rerun.exit_code == 0 and {r.status for r in rerun.records} == {"converted"}
    assert [p for p in (out / "unwrap").iterdir() if not p.name.startswith(".")] == []
    assert [p for p in (out / "logs").iterdir() if not p.name.startswith(".")] == []
    assert [name for name in WELL_LEVEL if (out / name).exists()] == ["scene.mrml", "well_strip.png"]
    assert not list((out / "scene").glob("*_unwrap.nhdr"))


def test_a_well_file_the_batch_did_not_write_is_never_removed(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST).exit_code == 0
    out = tmp_path / "out"
    (out / "well_ct_log.las").write_text("someone else's LAS\n")  # replaced by a person after the run
    assert convert(tmp_path, None).exit_code == 0
    assert (out / "well_ct_log.las").read_text() == "someone else's LAS\n"
    assert not (out / "well_ct_log.csv").exists()


def test_the_child_process_end_event_carries_the_unplaced_cores_to_the_slicer_module() -> None:
    from CoreBatchLoaderLib.batch import events
    from CoreBatchLoaderLib.batch.well_steps import WellResult
    unplaced = ["boxA_s1: no depth: the depth for folder boxA (line 2) cannot say which of its 2 series it is"]
    result = BatchResult(records=[], well=WellResult(unplaced=unplaced))
    back = events.result_of(events.parse(events.line(events.end_event(result, 1))), [])
    assert back.well is not None and back.well.unplaced == unplaced


def test_a_placed_core_without_a_ct_log_is_named_in_the_las_notes(tmp_path: Path) -> None:
    well_of_phantoms(tmp_path / "in", PHANTOMS)
    assert convert(tmp_path, FIRST).exit_code == 0
    (tmp_path / "out" / "logs" / "core_002.csv").unlink()  # lost since: the rerun's log lacks it
    rerun = convert(tmp_path, FIRST)
    las = lasio.read(str(tmp_path / "out" / "well_ct_log.las"))
    assert [p.descr for p in las.params] == ["core_001 top", "core_001 bottom"]
    missing = [w for w in rerun.well.log.warnings if w.startswith("core_002")]
    assert len(missing) == 1 and missing[0] in las.other


def test_every_well_file_name_has_a_prefix_the_leftover_check_looks_for() -> None:
    """A run without depths looks for the well's leftovers only where a name starts with
    ``well_`` or ``scene`` (batch.outputs): every well-level name must."""
    from CoreBatchLoaderLib.mrml.well import SCENE_NAME
    from CoreBatchLoaderLib.well.ct_log import LAS_NAME, TABLE_NAME, TRACK_NAME
    from CoreBatchLoaderLib.well.layout import SCENE_DIR, STRIP_NAME, UNWRAP_STRIP_NAME
    names = (SCENE_NAME, LAS_NAME, TABLE_NAME, TRACK_NAME, SCENE_DIR, STRIP_NAME, UNWRAP_STRIP_NAME)
    assert all(name.startswith(("well_", "scene")) for name in names) and set(names) <= set(WELL_LEVEL) | {"scene"}


def test_a_run_without_depths_imports_none_of_the_wells_modules(tmp_path: Path) -> None:
    import subprocess
    import sys
    write_core_series(tmp_path / "in" / "c1", rows=32, columns=32, slices=4)
    code = ("import sys; from pathlib import Path; from CoreBatchLoaderLib.batch.run import run_batch, BatchOptions; "
            "assert run_batch(Path(sys.argv[1]), Path(sys.argv[2]), BatchOptions()).exit_code == 0; "
            "print(sorted(m for m in sys.modules if m.startswith(('CoreBatchLoaderLib.well.', 'CoreBatchLoaderLib.mrml'))))")
    shown = subprocess.run([sys.executable, "-c", code, str(tmp_path / "in"), str(tmp_path / "out")], check=True,
                           capture_output=True, text=True).stdout
    assert shown.strip() == "['CoreBatchLoaderLib.well.options']"
