"""Cores on log depth (issue 21): the joint matcher on synthetic logged wells with known shifts,
the calibration, the command's files, and its bad input.

The wells (:mod:`CoreBatchLoaderLib.synthetic.logged_well`): ~30 cores of ~1 m cut one per metre,
shifts up to ±0.8 m drifting down the well, a lost core run, a core with missing slices, a
featureless core, CT numbers through a calibration the matcher is not told, the wireline density
from the same beds through a 0.6 m response (a Hann window, not the matcher's Gaussian), every
0.1524 m, with noise.  The CT logs are written directly (:mod:`logged_output`); the end-to-end
run from DICOM is test_depth_match_e2e.py.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import List

import numpy as np
import pytest
from conftest import require, require_module, tree_digest
from logged_output import FEET, write_output, write_wireline

from CoreBatchLoaderLib.cli import main
from CoreBatchLoaderLib.depth_match.calibration import read_standards
from CoreBatchLoaderLib.depth_match.names import (DEPTHS_NAME, FIT_NAME, FOLDER, LAS_SHIFTED_NAME, PICTURE_NAME,
                                                  SHIFTS_NAME)
from CoreBatchLoaderLib.depth_match.run import SHIFT_COLUMNS
from CoreBatchLoaderLib.depth_match.solver import CoreLogInput, MatchResult, match_cores
from CoreBatchLoaderLib.synthetic.logged_well import LoggedWell, logged_well, standards_table
from CoreBatchLoaderLib.well.depths import read_depth_table

lasio = require_module("lasio", "lasio")


def solve(well: LoggedWell, values: np.ndarray = None) -> MatchResult:
    cores = [CoreLogInput(c.name, c.top_m, c.bottom_m, c.depth_m, c.hu) for c in well.cores]
    return match_cores(cores, well.wireline_depth_m, well.rhob if values is None else values)


def errors(well: LoggedWell, shifts: List[float]) -> np.ndarray:
    return np.array([s - c.shift_m for s, c in zip(shifts, well.cores)])


def assert_on_log_depth(well: LoggedWell, shifts: List[float], statuses: List[str]) -> None:
    """The issue's tolerances, and the cores in order without overlap at log depth."""
    error = np.abs(errors(well, shifts))
    worst = int(np.argmax(error))
    assert error.max() <= 0.15, "%s off by %.3f m" % (well.cores[worst].name, error[worst])
    assert np.mean(error <= 0.076) >= 0.75, np.round(error, 3)
    assert np.median(error) <= 0.05
    tops = [c.top_m + s for c, s in zip(well.cores, shifts)]
    bottoms = [c.bottom_m + s for c, s in zip(well.cores, shifts)]
    assert all(t2 >= b1 - 1e-9 for b1, t2 in zip(bottoms, tops[1:])), "cores overlap at log depth"
    named = dict(zip([c.name for c in well.cores], statuses))
    assert named[well.featureless] == "ambiguous"
    assert named[well.gapped] == "matched"  # a core with missing slices still matches
    assert sum(s == "ambiguous" for s in statuses) <= 0.25 * len(statuses)  # the honest few, not the well


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_core_lands_on_log_depth_within_the_tolerances(seed: int) -> None:
    well = logged_well(seed=seed)
    assert well.lost and max(abs(c.shift_m) for c in well.cores) > 0.5
    result = solve(well)
    assert_on_log_depth(well, [s.shift_m for s in result.shifts], [s.status for s in result.shifts])


@pytest.mark.parametrize("seed", [0, 3])
def test_the_fitted_calibration_is_the_ct_numbers_own(seed: int) -> None:
    from CoreBatchLoaderLib.depth_match.calibration import from_relation
    well = logged_well(seed=seed, hu_per_unit=1320.0, hu_at_zero=-1500.0)
    fit = from_relation(solve(well).relation)
    assert abs(fit.hu_per_unit / well.hu_per_unit - 1.0) <= 0.10
    assert abs(fit.hu_at(2.4) - (well.hu_per_unit * 2.4 + well.hu_at_zero)) <= 30.0
    assert 0 < fit.hu_per_unit_sd < 0.1 * fit.hu_per_unit  # an uncertainty is reported, and it is not absurd


def test_the_sign_of_the_relation_is_found_not_assumed() -> None:
    """A curve that falls as the CT number rises (a neutron or gamma log in these rocks)."""
    well = logged_well(seed=1)
    result = solve(well, 400.0 - 120.0 * well.rhob)
    assert result.relation.alpha < 0
    assert_on_log_depth(well, [s.shift_m for s in result.shifts], [s.status for s in result.shifts])


def test_confidence_is_high_where_the_shift_is_right_and_none_for_the_featureless_core() -> None:
    well = logged_well(seed=2)
    result = solve(well)
    error = np.abs(errors(well, [s.shift_m for s in result.shifts]))
    confidence = np.array([s.confidence for s in result.shifts])
    matched = np.array([s.status == "matched" for s in result.shifts])
    assert ((0.0 <= confidence) & (confidence <= 1.0)).all()
    assert confidence[~matched].max() == 0.0
    assert np.median(confidence[matched & (error <= 0.076)]) >= 0.7
    correlation = np.array([s.correlation for s in result.shifts])
    assert np.nanmedian(correlation[matched]) >= 0.8


def test_the_featureless_core_is_kept_at_its_neighbours_shift() -> None:
    well = logged_well(seed=4)
    result = solve(well)
    names = [c.name for c in well.cores]
    n = names.index(well.featureless)
    shifts = [s.shift_m for s in result.shifts]
    assert min(shifts[n - 1], shifts[n + 1]) - 0.05 <= shifts[n] <= max(shifts[n - 1], shifts[n + 1]) + 0.05


# ---------------------------------------------------------------------------------------------
# The command


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory):
    """A converted well (CT logs, manifest, well_ct_log.las; core_005 without a CT log), its
    wireline in feet, the command run on it."""
    root = tmp_path_factory.mktemp("depthmatch")
    well = logged_well(seed=1)
    write_output(root / "out", well, no_ct_log=["core_005"])
    las = write_wireline(root / "wireline.las", well, unit="FT")
    assert main(["depth-match", str(root / "out"), "--log", str(las), "--curve", "RHOB", "--no-fsync"]) == 0
    return well, root / "out" / FOLDER, root


def read_rows(path: Path) -> List[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_depth_shifts_csv_has_every_core_and_the_issue_columns(matched) -> None:
    well, folder, _ = matched
    with open(folder / SHIFTS_NAME) as handle:
        assert handle.readline().strip() == ",".join(SHIFT_COLUMNS)
    rows = read_rows(folder / SHIFTS_NAME)
    truth = {c.name: c for c in well.cores}
    for row in rows:
        assert float(row["log_top_m"]) == pytest.approx(float(row["driller_top_m"]) + float(row["shift_m"]), abs=2e-4)
        assert float(row["driller_top_m"]) == pytest.approx(truth[row["core"]].top_m, abs=1e-4)
        assert 0.0 <= float(row["confidence"]) <= 1.0
    statuses = {row["core"]: row["status"] for row in rows}
    assert statuses[well.featureless] == "ambiguous"
    matched_rows = [row for row in rows if row["status"] != "not matched"]
    shifts = [float(row["shift_m"]) for row in matched_rows]
    kept = [truth[row["core"]] for row in matched_rows]
    error = np.abs(np.array(shifts) - np.array([c.shift_m for c in kept]))
    assert error.max() <= 0.15 and np.median(error) <= 0.05  # the wireline in feet, read as metres


def test_a_core_without_ct_log_is_listed_as_not_matched_with_why_at_its_neighbours_shift(matched) -> None:
    _, folder, _ = matched
    rows = {row["core"]: row for row in read_rows(folder / SHIFTS_NAME)}
    assert rows["core_005"]["status"] == "not matched" and rows["core_005"]["confidence"] == "0.000"
    neighbours = sorted(float(rows[name]["shift_m"]) for name in ("core_004", "core_006"))
    assert neighbours[0] - 1e-4 <= float(rows["core_005"]["shift_m"]) <= neighbours[1] + 1e-4
    assert "core_005" in read_depth_table(folder / DEPTHS_NAME, list(rows))  # the convert's rerun places it too
    las = lasio.read(str(folder / LAS_SHIFTED_NAME))
    [note] = [line for line in str(las.other).splitlines() if line.startswith("core_005 ")]
    assert "not matched" in note and "no CT log" in note


def test_depths_log_csv_is_the_converts_own_depth_table_at_log_depth(matched) -> None:
    well, folder, _ = matched
    shifts = {row["core"]: float(row["shift_m"]) for row in read_rows(folder / SHIFTS_NAME)}
    names = list(shifts)
    depths = read_depth_table(folder / DEPTHS_NAME, names)
    for core in well.cores:
        if core.name in depths:
            assert depths[core.name].top_m == pytest.approx(core.top_m + shifts[core.name], abs=2e-4)
            assert depths[core.name].bottom_m == pytest.approx(core.bottom_m + shifts[core.name], abs=2e-4)


def test_the_shifted_las_reads_back_at_log_depth_with_rhob_ct_and_the_wireline(matched) -> None:
    well, folder, _ = matched
    las = lasio.read(str(folder / LAS_SHIFTED_NAME))
    assert las.curves[0].mnemonic == "DEPT" and las.curves[0].unit == "M"
    for mnemonic in ("CTMEAN", "CTMED", "VOIDFR", "DIAM", "RHOB_CT", "RHOB"):
        assert mnemonic in las.keys()
    assert las.curves["RHOB_CT"].unit == "G/C3"
    depth, rhob_ct, rhob = las.index, las["RHOB_CT"], las["RHOB"]
    # at log depth the CT's density and the wireline's agree within the tool's smoothing
    both = np.isfinite(rhob_ct) & np.isfinite(rhob)
    assert both.sum() > 1000
    assert np.corrcoef(rhob_ct[both], rhob[both])[0, 1] > 0.6
    assert np.nanmedian(np.abs(rhob_ct[both] - rhob[both])) < 0.12
    # the wireline curve resampled, not altered: its values lie within the file's
    assert np.nanmin(rhob) >= np.nanmin(well.rhob) - 1e-3 and np.nanmax(rhob) <= np.nanmax(well.rhob) + 1e-3
    other = str(las.other)
    for core in well.cores:
        assert core.name in other
    assert "shift" in other and "ambiguous" in other


def test_hu_density_fit_json_says_what_it_is_and_where_it_came_from(matched) -> None:
    well, folder, _ = matched
    fit = json.loads((folder / FIT_NAME).read_text())
    assert fit["source"] == "fitted"
    assert abs(fit["hu_per_unit"] / well.hu_per_unit - 1) <= 0.10
    assert abs(fit["hu_per_unit"] * 2.4 + fit["hu_at_zero"] - (well.hu_per_unit * 2.4 + well.hu_at_zero)) <= 30
    assert fit["hu_per_unit_sd"] > 0 and fit["hu_at_zero_sd"] > 0


def test_standards_calibrate_within_two_percent(tmp_path: Path) -> None:
    well = logged_well(seed=1, cores=8, lost_run=(0, 0), featureless=None, gapped=None)
    write_output(tmp_path / "out", well)
    las = write_wireline(tmp_path / "w.las", well)
    standards = tmp_path / "standards.csv"
    standards.write_text("name,density,hu\n" + "".join("%s,%g,%.1f\n" % s for s in
                                                         standards_table(well.hu_per_unit, well.hu_at_zero)))
    assert main(["depth-match", str(tmp_path / "out"), "--log", str(las), "--curve", "RHOB", "--calibration",
                 str(standards), "--quiet", "--no-fsync"]) == 0
    fit = json.loads((tmp_path / "out" / FOLDER / FIT_NAME).read_text())
    assert fit["source"] == "standards" and len(fit["standards"]) == 4
    assert abs(fit["hu_per_unit"] / well.hu_per_unit - 1) <= 0.02
    truth_24 = well.hu_per_unit * 2.4 + well.hu_at_zero
    assert abs(fit["hu_per_unit"] * 2.4 + fit["hu_at_zero"] - truth_24) <= 0.02 * abs(truth_24)


def test_two_standards_make_a_line_without_an_uncertainty(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("Material;Density;HU\nwater;1.0;0\nquartz;2.65;1650\n")
    fit = read_standards(path)
    assert fit.hu_per_unit == pytest.approx(1650 / 1.65) and fit.hu_at_zero == pytest.approx(-1000.0)
    assert fit.hu_per_unit_sd is None and "two standards" in fit.note


def test_the_correlation_picture_shows_both_curves_before_and_after(matched) -> None:
    well, folder, _ = matched
    svg = (folder / PICTURE_NAME).read_text()
    assert svg.startswith("<svg") and "before" in svg and "after" in svg
    assert "RHOB_CT" in svg and "RHOB" in svg
    for core in well.cores:
        if core.name != "core_005":
            assert core.name in svg
    assert "%s ?" % well.featureless in svg  # the ambiguous core marked
    assert svg.count("stroke-dasharray") >= 2  # its curve dashed, in both tracks


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written


def _las_text(depth_line: str = "DEPT.M", rows: str = "2449.0 2.3\n2449.5 2.4\n2450.0 2.5\n",
              curve_line: str = "RHOB.G/C3") -> str:
    return ("~Version\nVERS. 2.0 :\nWRAP. NO :\n~Well\nNULL. -999.25 :\nWELL. W :\n~Curve\n%s :\n%s :\n~ASCII\n%s"
            % (depth_line, curve_line, rows))


BAD_LOGS = {
    "no depth curve": (_las_text(depth_line="GR.GAPI"), "RHOB", "no depth curve"),
    "curve not in the file": (_las_text(), "NPHI", "no curve NPHI; the file has RHOB"),
    "log does not overlap": (_las_text(rows="100.0 2.3\n100.5 2.4\n101.0 2.5\n"), "RHOB", "does not overlap"),
    "all NULL": (_las_text(rows="2449.0 -999.25\n2449.5 -999.25\n2450.0 -999.25\n"), "RHOB", "no value"),
    "not monotonic": (_las_text(rows="2449.0 2.3\n2450.5 2.4\n2450.0 2.5\n"), "RHOB", "not monotonic"),
    "unknown depth unit": (_las_text(depth_line="DEPT.S"), "RHOB", "does not know"),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("badinput")
    write_output(root / "out", logged_well(seed=5, cores=6, lost_run=(0, 0), featureless=None, gapped=None))
    return root / "out"


@pytest.mark.parametrize("case", sorted(BAD_LOGS))
def test_a_bad_wireline_is_one_line_exit_2_and_nothing_written(case: str, converted: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    text, curve, expected = BAD_LOGS[case]
    las = tmp_path / "bad.las"
    las.write_text(text)
    before = tree_digest(converted)
    assert main(["depth-match", str(converted), "--log", str(las), "--curve", curve]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert str(las) in error or "bad.las" in error
    assert tree_digest(converted) == before and not (converted / FOLDER).exists()


@pytest.mark.parametrize("arguments,expected", [
    (["--max-shift", "0"], "--max-shift"),
    (["--calibration", "missing.csv"], "missing.csv"),
])
def test_bad_options_are_one_line_exit_2(arguments: List[str], expected: str, converted: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    well = logged_well(seed=5, cores=6, lost_run=(0, 0), featureless=None, gapped=None)
    las = write_wireline(tmp_path / "w.las", well)
    before = tree_digest(converted)
    assert main(["depth-match", str(converted), "--log", str(las), "--curve", "RHOB"] + arguments) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert tree_digest(converted) == before


def test_an_output_folder_without_a_converted_well_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    well = logged_well(seed=5, cores=6, lost_run=(0, 0), featureless=None, gapped=None)
    las = write_wireline(tmp_path / "w.las", well)
    assert main(["depth-match", str(tmp_path / "empty"), "--log", str(las), "--curve", "RHOB"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "manifest.json" in error
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) in ([], [".corebatchloader.lock"])


def test_feet_wireline_depths_are_converted_to_metres(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.depth_match.wireline import read_wireline
    well = logged_well(seed=0, cores=4, lost_run=(0, 0), featureless=None, gapped=None)
    wire = read_wireline(write_wireline(tmp_path / "ft.las", well, unit="FT", null_from=well.wireline_depth_m[-5]),
                         "rhob")
    assert wire.curve == "RHOB" and wire.depth_unit == "FT"
    assert np.allclose(wire.depth_m, well.wireline_depth_m, atol=1e-4)
    assert np.isnan(wire.values[-5:]).all() and np.isfinite(wire.values[:-5]).all()  # NULL honoured
    assert math.isclose(wire.step_m, 0.1524, abs_tol=1e-4) and FEET == 0.3048


def test_chromium_renders_the_correlation_picture(matched, tmp_path: Path) -> None:
    from test_report_browser import CHROMIUM, CHROMIUM_MISSING, png_size, run_chromium
    require(CHROMIUM, CHROMIUM_MISSING)
    _, folder, _ = matched
    shot = tmp_path / "correlation.png"
    done = run_chromium(tmp_path / "profile", "--screenshot=%s" % shot, "--window-size=700,1800",
                        "--virtual-time-budget=5000", (folder / PICTURE_NAME).as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (700, 1800) and len(data) > 40_000, "the picture rendered nearly blank"


def test_slicer_reads_the_shifts_table_and_plots_the_correlation(matched) -> None:
    slicer = pytest.importorskip("slicer")
    from CoreBatchLoaderLib.depth_match.names import TABLE_NAME
    from CoreBatchLoaderLib.mrml.depth_match import add_depth_match
    well, folder, _ = matched
    scene = slicer.vtkMRMLScene()
    shifts, curves, chart = add_depth_match(scene, folder / SHIFTS_NAME, folder / TABLE_NAME, "Synthetic 1")
    rows = read_rows(folder / SHIFTS_NAME)
    assert shifts.GetNumberOfRows() == len(rows) == len(well.cores)
    assert [shifts.GetCellText(n, 0) for n in range(len(rows))] == [row["core"] for row in rows]
    shift_column = shifts.GetTable().GetColumnByName("shift_m")
    assert shift_column.GetDataTypeAsString() == "double"
    assert [shift_column.GetValue(n) for n in range(len(rows))] == pytest.approx([float(r["shift_m"]) for r in rows])
    assert curves.GetColumnName(0) == "DEPT[M]" and curves.GetColumnName(2) == "RHOB_CT[G/C3]"
    after = curves.GetTable().GetColumnByName("RHOB_CT[G/C3]")
    values = np.array([after.GetValue(n) for n in range(after.GetNumberOfTuples())])
    assert np.isfinite(values).sum() > 50 and np.isnan(values).sum() > 5  # the cores' curves, breaks between
    series = [scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(n)) for n in range(chart.GetNumberOfPlotSeriesNodes())]
    assert [s.GetYColumnName() for s in series] == ["RHOB[G/C3]", "RHOB_CT[G/C3]", "RHOB_CT_DRILLER[G/C3]"]
    assert all(s.GetXColumnName() == "DEPT[M]" for s in series)


def test_wrapped_las_and_repeated_depth_curves_read_as_lasio_names_them(tmp_path: Path) -> None:
    """LAS 2.0 with WRAP YES (each depth alone on its line, the values on the next) and two depth
    curves (lasio names them DEPT:1, DEPT:2): the first is the index."""
    from CoreBatchLoaderLib.depth_match.wireline import read_wireline
    well = logged_well(seed=0, cores=4, lost_run=(0, 0), featureless=None, gapped=None)
    rows = "".join("%.4f\n%.4f %.4f\n" % (d, d / FEET, r) for d, r in zip(well.wireline_depth_m, well.rhob))
    path = tmp_path / "wrapped.las"
    path.write_text("~Version\nVERS. 2.0 :\nWRAP. YES :\n~Well\nNULL. -999.25 :\nWELL. W :\n~Curve\n"
                    "DEPT.M :\nDEPT.FT :\nRHOB.G/C3 :\n~ASCII\n" + rows)
    assert [c.mnemonic for c in lasio.read(str(path)).curves] == ["DEPT:1", "DEPT:2", "RHOB"]
    wire = read_wireline(path, "RHOB")
    assert np.allclose(wire.depth_m, well.wireline_depth_m, atol=1e-4)
    assert np.allclose(wire.values, well.rhob, atol=1e-4)
