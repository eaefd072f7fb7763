"""The CT log and the unwrap on every kind of core (issue 24): the core found by its contrast with
what surrounds it — peat and mud, sand, rock; air, water-filled liners, aluminium barrels — on
phantoms written as DICOM files whose every number is known."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import by_name, convert_tree

from CoreBatchLoaderLib.analysis.ct_log import read_log_csv, statistic
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, well_of_phantoms

MEAN_HU = 20.0  # the tolerances
VOID = 0.02
DIAMETER_MM = 2.0

PEAT = CorePhantom(layers=(Layer(20.0, -80.0), Layer(20.0, 60.0), Layer(100.0, -20.0)), roots=12, pockets=0.04,
                   centre_mm=(4.0, -3.0))
MUD_IN_WATER = CorePhantom(liner="plastic", fill=0.0, touching=True, tilt_deg=2.0, tilt_azimuth_deg=90.0,
                           layers=(Layer(20.0, 150.0), Layer(20.0, 600.0), Layer(100.0, 320.0)))
SAND_IN_AIR = CorePhantom(layers=(Layer(25.0, 1100.0), Layer(100.0, 1350.0)), centre_mm=(-5.0, 2.0))
ROCK_IN_BARREL = CorePhantom(liner="aluminium", touching=True, layers=(Layer(30.0, 2300.0), Layer(100.0, 1800.0)))


def column(rows: np.ndarray, mnemonic: str) -> np.ndarray:
    return rows[:, statistic(mnemonic)]


def converted(tmp_path, phantom: CorePhantom, **options):
    truth = well_of_phantoms(tmp_path / "in", [phantom])[0]
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", **options))["core_001"]
    assert record.status == "converted", record.error
    _, _, _, rows = read_log_csv(tmp_path / "out" / record.ct_log)
    return truth, record, rows


def assert_log_matches(truth, rows, phantom: CorePhantom) -> None:
    """Means (where one layer fills the slice), void fractions and diameters against the truth."""
    known = ~np.isnan(truth.core_mean_hu)
    assert known.sum() > 0.6 * phantom.slices
    assert not np.isnan(rows[known, :7]).any(), "a slice with core has an empty row"
    assert np.abs(column(rows, "CTMEAN")[known] - truth.core_mean_hu[known]).max() <= MEAN_HU
    assert np.abs(column(rows, "VOIDFR")[known] - truth.void_fraction[known]).max() <= VOID
    assert np.abs(column(rows, "DIAM")[known] - phantom.diameter_mm).max() <= DIAMETER_MM


def test_a_peat_core_in_air_with_roots_and_air_pockets(tmp_path):
    truth, record, rows = converted(tmp_path, PEAT)
    assert truth.void_fraction[~np.isnan(truth.core_mean_hu)].mean() > 0.02  # the pockets are there to find
    assert_log_matches(truth, rows, PEAT)
    surroundings = record.surroundings
    assert surroundings["air"] and surroundings["fill_hu"] is None and surroundings["liner_hu"] is None
    assert surroundings["core_min_hu"] < -300  # the roots are core
    assert not [w for w in record.warnings if "cross-section" in w or "unwrap" in w]


def test_a_mud_core_in_a_water_filled_liner(tmp_path):
    truth, record, rows = converted(tmp_path, MUD_IN_WATER)
    assert {150.0, 600.0, 320.0} <= set(truth.layer_hu[~np.isnan(truth.layer_hu)])
    assert_log_matches(truth, rows, MUD_IN_WATER)
    assert np.all(column(rows, "VOIDFR")[~np.isnan(truth.core_mean_hu)] == 0.0)  # water is not void
    surroundings = record.surroundings
    assert abs(surroundings["fill_hu"] - 0.0) <= MEAN_HU and abs(surroundings["liner_hu"] - 300.0) <= 30.0
    assert 0.0 < surroundings["core_min_hu"] < 150.0
    assert record.axis_tilt_deg == pytest.approx(MUD_IN_WATER.tilt_deg, abs=0.5)


def test_a_sand_core_in_air(tmp_path):
    truth, record, rows = converted(tmp_path, SAND_IN_AIR)
    assert_log_matches(truth, rows, SAND_IN_AIR)
    assert record.surroundings["air"] and record.surroundings["fill_hu"] is None


def test_a_rock_core_in_an_aluminium_barrel(tmp_path):
    truth, record, rows = converted(tmp_path, ROCK_IN_BARREL)
    assert_log_matches(truth, rows, ROCK_IN_BARREL)
    surroundings = record.surroundings
    assert abs(surroundings["liner_hu"] - 2500.0) <= 50.0 and surroundings["fill_hu"] is None
    assert surroundings["core_min_hu"] == 300.0  # rock's floor as before: caps, foam and water are no rock


@pytest.mark.parametrize("phantom", [PEAT, MUD_IN_WATER], ids=["peat", "mud-in-water"])
def test_the_unwrap_of_a_soft_core_is_at_its_own_radius(tmp_path, phantom):
    _, record, _ = converted(tmp_path, phantom)
    assert record.unwrap is not None
    assert record.unwrap_radius_mm == pytest.approx(0.9 * phantom.diameter_mm / 2.0, abs=0.9 * DIAMETER_MM / 2.0)


def test_the_users_core_range_replaces_the_decided_one(tmp_path):
    """A floor above the peat's CT numbers leaves no core; the range is recorded as given."""
    from CoreBatchLoaderLib.cli import main
    well_of_phantoms(tmp_path / "in", [CorePhantom(layers=PEAT.layers, slices=12)])
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--core-min-hu", "200",
                 "--core-max-hu=3000", "--quiet", "--workers", "1", "--no-fsync"]) == 0
    record = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"][0]
    assert record["surroundings"]["given"] and record["surroundings"]["core_min_hu"] == 200.0
    assert record["surroundings"]["core_max_hu"] == 3000.0
    assert any("no core cross-section found" in w for w in record["warnings"])
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out2"), "--core-min-hu", "-400",
                 "--quiet", "--workers", "1", "--no-fsync"]) == 0
    _, _, _, rows = read_log_csv(tmp_path / "out2" / "logs" / "core_001.csv")
    assert not np.isnan(column(rows, "CTMEAN")[2:10]).any()


@pytest.mark.parametrize("arguments, message", [
    (["--core-min-hu", "nan"], "--core-min-hu"),
    (["--core-max-hu", "inf"], "--core-max-hu"),
    (["--core-min-hu", "1e309"], "--core-min-hu"),
    (["--core-min-hu", "300", "--core-max-hu", "300"], "--core-min-hu 300 must be below --core-max-hu 300"),
    (["--core-min-hu", "500", "--core-max-hu", "-100"], "--core-min-hu 500 must be below --core-max-hu -100"),
])
def test_a_bad_core_range_is_a_usage_error_naming_the_option(tmp_path, capsys, arguments, message):
    from CoreBatchLoaderLib.cli import main
    well_of_phantoms(tmp_path / "in", [CorePhantom(slices=4)])
    try:
        status = main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", "--workers", "1"]
                      + arguments)
    except SystemExit as exc:  # argparse's own error for a value that is not a finite number
        status = exc.code
    assert status == 2
    error = capsys.readouterr().err
    assert message in error.strip().splitlines()[-1] and "Traceback" not in error
    assert not (tmp_path / "out" / "core_001.nrrd").exists()


def test_the_core_range_reaches_the_child_and_the_panel_checks_it(tmp_path):
    from CoreBatchLoaderLib import cli
    from CoreBatchLoaderLib.batch.run import UsageError
    from CoreBatchLoaderLib.slicer_process import convert_arguments, panel_options
    options = panel_options(core_min_hu=-250.5, core_max_hu=2999.0)
    args = cli.build_parser().parse_args(["convert"] + convert_arguments(tmp_path / "in", tmp_path / "out", options))
    assert cli.batch_options(args) == options
    assert (options.convert.core_min_hu, options.convert.core_max_hu) == (-250.5, 2999.0)
    with pytest.raises(UsageError, match="--core-min-hu"):
        panel_options(core_min_hu=100.0, core_max_hu=-100.0)
    with pytest.raises(UsageError, match="--core-max-hu"):
        panel_options(core_max_hu=math.nan)
