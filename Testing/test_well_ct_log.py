"""The well's CT log (issue 12 item 5): LAS 2.0 read back with lasio, placement as in the scene,
NULL between cores and in gaps, the scene's table and plot read by slicer-core, the report's track."""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import by_name, require_module, scene_volume_nodes

from CoreBatchLoaderLib.analysis.ct_log import read_log_csv
from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, well_of_phantoms
from CoreBatchLoaderLib.well.options import SceneOptions

lasio = require_module("lasio", "lasio")

PHANTOMS = [
    CorePhantom(liner="aluminium", touching=True, tilt_deg=2.0, layers=(Layer(20, 1500), Layer(25, 2200),
                                                                       Layer(100, 1800)), missing=(45,)),
    CorePhantom(layers=(Layer(30, 2500), Layer(100, 1200)), rubble=(10, 11, 12), foam=(0, 1), centre_mm=(5, 3)),
    CorePhantom(liner="plastic", slice_spacing=0.5, slices=100, layers=(Layer(15, 1000), Layer(100, 2000))),
]
DEPTHS = "core,top,bottom,flip\ncore_001,2450.0,2450.06,no\ncore_002,2450.10,2450.16,yes\ncore_003,2450.16,2450.21,no\n"
FLIPPED = {"core_002"}


def run_well(root: Path, scene: bool = True, **convert: object):
    truth = well_of_phantoms(root / "in", PHANTOMS)
    (root / "depths.csv").write_text(DEPTHS)
    options = BatchOptions(convert=ConvertOptions(durable=False, **convert), workers=1,
                           scene=SceneOptions(depths_file=root / "depths.csv", build_scene=scene, well_name="Phantom 1",
                                              company="Core Lab 7", field="Campos", uwi="7-PHA-1-RJS"))
    return truth, run_batch(root / "in", root / "out", options)


@pytest.fixture(scope="module")
def well(tmp_path_factory):
    root = tmp_path_factory.mktemp("wellog")
    truth, result = run_well(root)
    assert result.exit_code == 0 and result.well.log.warnings == []
    return truth, result, root / "out"


def slice_depths_in_scene(out: Path) -> dict:
    """Core name → depth of every slice centre as Slicer places the core when it opens the scene."""
    depths = {}
    for node, matrix in scene_volume_nodes(out):
        if node.GetAttribute("CoreBatchLoader.top_m") is None:
            continue  # the overview
        slices = node.GetImageData().GetDimensions()[2]
        depths[node.GetName()] = np.array([-matrix.MultiplyPoint((0, 0, k, 1))[2] / 1000.0 for k in range(slices)])
    return depths


def test_the_las_file_reads_back_with_its_curves_units_and_well_section(well):
    _, result, out = well
    assert result.well.log.las == out / "well_ct_log.las"
    before = time.strftime("%Y-%m-%d")  # the fixture ran today (a run across midnight: either day)
    las = lasio.read(str(out / "well_ct_log.las"))
    assert [c.mnemonic for c in las.curves] == ["DEPT", "CTMEAN", "CTMED", "CTSTD", "CTP10", "CTP90", "VOIDFR", "DIAM"]
    assert [c.unit for c in las.curves] == ["M", "HU", "HU", "HU", "HU", "HU", "V/V", "MM"]
    assert las.well["WELL"].value == "Phantom 1" and float(las.well["NULL"].value) == -999.25
    assert (las.well["COMP"].value, las.well["FLD"].value, las.well["UWI"].value) == ("Core Lab 7", "Campos", "7-PHA-1-RJS")
    assert las.well["DATE"].value in (before, time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400)))
    depth = las.index
    # STRT and STOP: the cored interval's top (core_001's) and bottom (core_003's), rows there too
    assert float(las.well["STRT"].value) == depth[0] == 2450.0 and float(las.well["STOP"].value) == depth[-1] == 2450.21
    assert float(las.well["STEP"].value) == 0  # irregular (LAS 2.0): the end rows lie half a slice off
    assert np.diff(depth[1:-1]) == pytest.approx(0.0005, abs=1e-6)  # the finest slice spacing (core_003: 0.5 mm)
    assert 0 < depth[1] - depth[0] <= 0.0005 and 0 < depth[-1] - depth[-2] <= 0.0005
    assert "every 0.0005 m on the slice centres" in las.other
    params = {p.mnemonic: (p.value, p.descr) for p in las.params}
    assert params["TOP2"] == (pytest.approx(2450.10), "core_002 top") and params["BOT3"][0] == pytest.approx(2450.21)
    assert "core_002 2450.1000 2450.1600 flipped" in las.other


def test_null_between_cores_and_where_a_slice_showed_no_core(well):
    _, _, out = well
    las = lasio.read(str(out / "well_ct_log.las"))
    depth, mean = las.index, las["CTMEAN"]
    between = (depth > 2450.061) & (depth < 2450.099)
    assert between.any() and np.isnan(mean[between]).all()  # lasio reads NULL as NaN
    text = (out / "well_ct_log.las").read_text()
    assert "-999.25" in text


def test_each_slice_is_at_the_depth_the_scene_gives_it_also_flipped(well):
    truth, result, out = well
    las = lasio.read(str(out / "well_ct_log.las"))
    in_scene = slice_depths_in_scene(out)
    for series, record in zip(truth, result.records):
        first, depth_m, ks, rows = read_log_csv(out / record.ct_log)
        assert first == "DEPT[M]"
        assert depth_m == pytest.approx(in_scene[record.name], abs=1e-6)
        # the LAS row at each slice's depth holds that slice's CT mean, and the layer's truth
        known = np.nonzero(~np.isnan(series.layer_hu))[0]
        nearest = np.abs(las.index[None, :] - depth_m[known, None]).argmin(axis=1)
        assert np.abs(las.index[nearest] - depth_m[known]).max() <= 0.0005 / 2 + 1e-7
        if record.name == "core_003":  # the finest core: the rows lie on its slices, one each
            assert las.index[nearest] == pytest.approx(depth_m[known], abs=1e-6)
            assert las["CTMEAN"][nearest] == pytest.approx(rows[known, 0], abs=0.01)
        # a coarser core's slice may sit half-way between two rows: one of them holds it
        assert np.abs(las["CTMEAN"][nearest] - series.layer_hu[known]).max() <= 20.0
    # the flipped core: its slice 0 (first layer, 2500 HU) lies at the bottom of its interval
    core_002 = read_log_csv(out / "logs" / "core_002.csv")
    assert core_002[1][0] > core_002[1][-1]


def test_a_missing_slice_is_null_in_the_las(well):
    _, result, out = well
    depth_m = read_log_csv(out / "logs" / "core_001.csv")[1]
    las = lasio.read(str(out / "well_ct_log.las"))
    row = int(np.argmin(np.abs(las.index - depth_m[45])))
    assert np.isnan(las["CTMEAN"][row]) and np.isnan(las["DIAM"][row])
    assert not np.isnan(las["CTMEAN"][int(np.argmin(np.abs(las.index - depth_m[44])))])


def test_slicer_reads_the_scenes_table_and_plot_chart(well):
    import slicer
    _, _, out = well
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(out / "scene.mrml"))
    assert scene.Import()
    tables = [scene.GetNthNodeByClass(n, "vtkMRMLTableNode") for n in range(scene.GetNumberOfNodesByClass("vtkMRMLTableNode"))]
    assert [t.GetName() for t in tables] == ["Phantom 1 CT log"]
    table = tables[0].GetTable()
    las = lasio.read(str(out / "well_ct_log.las"))
    assert table.GetNumberOfRows() == len(las.index)
    column = table.GetColumnByName("CTMEAN[HU]")  # the LAS's names, the unit in the header
    assert tables[0].GetColumnUnitLabel("CTMEAN[HU]") == "HU" and tables[0].GetColumnUnitLabel("DEPT[M]") == "M"
    values = np.array([column.GetValue(n) for n in range(table.GetNumberOfRows())])
    assert values == pytest.approx(las["CTMEAN"], abs=0.01, nan_ok=True)
    charts = [scene.GetNthNodeByClass(n, "vtkMRMLPlotChartNode") for n in range(scene.GetNumberOfNodesByClass("vtkMRMLPlotChartNode"))]
    assert len(charts) == 1
    from CoreBatchLoaderLib.mrml.ct_log import log_series_columns
    assert sorted(log_series_columns(charts[0]).values()) == ["CTMEAN[HU]", "CTP10[HU]", "CTP90[HU]"]
    series = scene.GetNodeByID(charts[0].GetNthPlotSeriesNodeID(0))
    assert series.GetTableNodeID() == tables[0].GetID() and series.GetXColumnName() == "DEPT[M]"


def test_the_report_shows_the_log_track_beside_the_well_strip(well):
    _, result, out = well
    track = result.well.log.track
    assert track is not None and "log" in track.name and track.suffix == ".svg"
    svg = track.read_text()
    assert svg.startswith("<svg") and "CT mean" in svg
    page = (out / "report.html").read_text()
    assert 'src="well_strip.png"' in page and 'src="%s"' % track.name in page
    # same picture height as the strip, so the two line up row for row
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    import struct
    assert height == struct.unpack(">II", (out / "well_strip.png").read_bytes()[16:24])[1]


@pytest.mark.parametrize("depth_m, hu", [
    (2450.010, 1500.0), (2450.0325, 2200.0), (2450.050, 1800.0),  # core_001's layers from its top
    (2450.145, 2500.0), (2450.115, 1200.0),  # core_002, flipped: its first slices are its bottom
    (2450.1725, 1000.0), (2450.195, 2000.0),  # core_003
])
def test_the_well_track_draws_each_layer_at_its_depth(well, depth_m: float, hu: float) -> None:
    """The well's log track, read as a person reads it (test_log_svg.plotted_mean: its depth ticks
    and CT scale), shows each phantom layer's CT number at the layer's depth.  Catches: a core
    drawn at the wrong depth or the wrong way up (core_002 is flipped), the curve from another
    column (P10/P90 lie ±38 HU off), a wrong scale."""
    from test_log_svg import hu_per_pixel, plotted_mean
    _, result, _ = well
    svg = result.well.log.track.read_text()
    assert plotted_mean(svg, depth_m) == pytest.approx(hu, abs=max(15.0, 2 * hu_per_pixel(svg)))


def test_lasio_is_a_default_dependency_not_an_extra():
    """Issue 20 item 6: a plain ``pip install`` writes the LAS (checked by hand in a fresh venv,
    docs/ct-log.md); here, that pyproject says so and no extra is needed for it."""
    from conftest import ROOT
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(re.match(r"lasio\b", requirement) for requirement in project["dependencies"])
    assert "las" not in project["optional-dependencies"]
    assert project["optional-dependencies"]["scene"] == ["slicer-core"]  # the extra the --scene error names


def test_without_lasio_the_rest_is_written_and_one_line_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lasio", None)  # import lasio → ImportError
    _, result = run_well(tmp_path, scene=False)
    assert result.exit_code == 0
    assert result.well.log.las is None and result.well.log.table is not None
    assert result.well.log.warnings == ["well_ct_log.las not written: it needs lasio (pip install lasio)"]


def test_no_ct_log_means_no_well_log(tmp_path):
    _, result = run_well(tmp_path, scene=False, ct_log=False)
    assert result.well.log is None and not (tmp_path / "out" / "well_ct_log.las").exists()


def test_without_depths_each_core_gets_a_small_profile_in_the_report(tmp_path):
    well_of_phantoms(tmp_path / "in", PHANTOMS[:2])
    result = run_batch(tmp_path / "in", tmp_path / "out", BatchOptions(convert=ConvertOptions(durable=False), workers=1))
    assert by_name(result)["core_001"].ct_log == "logs/core_001.csv"
    page = (tmp_path / "out" / "report.html").read_text()
    for name in ("core_001", "core_002"):
        assert (tmp_path / "out" / "logs" / ("%s.svg" % name)).read_text().startswith("<svg")
        assert 'class="profile" src="logs/%s.svg"' % name in page
    assert not (tmp_path / "out" / "well_ct_log.las").exists()


def test_after_a_batch_the_module_puts_the_log_in_the_live_scene(well):
    """What Logic.convert does after a batch with depths (lasPath, logChartID), on slicer-core."""
    import slicer
    from CoreBatchLoaderLib.mrml.ct_log import add_well_log
    _, result, out = well
    scene = slicer.vtkMRMLScene()
    las, chart_id = add_well_log(scene, result.well, "Phantom 1")
    assert las == out / "well_ct_log.las"
    chart = scene.GetNodeByID(chart_id)
    series = scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(0))
    table = scene.GetNodeByID(series.GetTableNodeID()).GetTable()
    assert table.GetNumberOfRows() == len(lasio.read(str(las)).index)  # read now: a live scene
    assert add_well_log(scene, None, "no well") == (None, None)


def test_a_depth_table_in_feet_from_a_workbook_places_the_log_in_metres(tmp_path):
    """A lab's .xlsx with depths in feet (issue 21 item 6): converted once, on reading."""
    openpyxl = require_module("openpyxl", "openpyxl")
    well_of_phantoms(tmp_path / "in", PHANTOMS[:2])
    book = openpyxl.Workbook()
    for row in (["Core ID", "Top Depth (ft)", "Bottom Depth (ft)"], ["core_001", 8038.0, 8038.2],
                ["core_002", 8038.3, 8038.5]):
        book.active.append(row)
    book.save(str(tmp_path / "depths.xlsx"))
    options = BatchOptions(convert=ConvertOptions(durable=False), workers=1,
                           scene=SceneOptions(depths_file=tmp_path / "depths.xlsx"))
    result = run_batch(tmp_path / "in", tmp_path / "out", options)
    assert result.exit_code == 0, [r.warnings for r in result.records]
    las = lasio.read(str(result.well.log.las))
    params = {p.mnemonic: p.value for p in las.params}
    assert params["TOP1"] == pytest.approx(8038.0 * 0.3048) and params["BOT2"] == pytest.approx(8038.5 * 0.3048)
    assert float(las.well["STRT"].value) == pytest.approx(8038.0 * 0.3048, abs=1e-6)
    # no --company, --field, --uwi: empty, and each says which option fills it
    assert [(las.well[m].value, las.well[m].descr) for m in ("COMP", "FLD", "UWI")] == [
        ("", "COMPANY (not given, see --company)"), ("", "FIELD (not given, see --field)"),
        ("", "UNIQUE WELL ID (not given, see --uwi)")]
