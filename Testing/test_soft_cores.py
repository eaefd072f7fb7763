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
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Layer, Rod, well_of_phantoms

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


# -- masks and padding (issue 24 item 3) ------------------------------------------------------

def log_of(tmp_path, name, phantom: CorePhantom, tag=None):
    """(truth, record, rows) of ``phantom`` written under ``name``; ``tag``: (tag, VR, stored
    value) added to every file (PixelPaddingValue…)."""
    import pydicom
    truth = well_of_phantoms(tmp_path / name / "in", [phantom])[0]
    for path in truth.files if tag else ():
        dataset = pydicom.dcmread(path)
        for number, vr, value in tag:
            dataset.add_new(number, vr, value)
        dataset.save_as(path)
    record = by_name(convert_tree(tmp_path / name / "in", tmp_path / name / "out"))["core_001"]
    assert record.status == "converted", record.error
    _, _, _, rows = read_log_csv(tmp_path / name / "out" / record.ct_log)
    return truth, record, rows


def assert_same_numbers(rows, plain_rows, truth) -> None:
    known = ~np.isnan(truth.core_mean_hu)
    # the same section to a sample of the grid (a ring of edge voxels more or less: other samples
    # of the air pockets on the log's 16 rows)
    for mnemonic, within in (("CTMEAN", 5.0), ("CTSTD", 8.0), ("VOIDFR", 0.01), ("DIAM", 1.0)):
        assert np.abs(column(rows, mnemonic)[known] - column(plain_rows, mnemonic)[known]).max() <= within, mnemonic


@pytest.mark.parametrize("mask_hu, phantom", [(3071.0, MUD_IN_WATER), (-1024.0, PEAT), (0.0, SAND_IN_AIR)],
                         ids=["+3071-mud", "-1024-peat", "0-sand"])
def test_a_scan_masked_outside_the_core_gives_the_unmasked_numbers(tmp_path, mask_hu, phantom):
    from dataclasses import replace
    truth, plain, plain_rows = log_of(tmp_path, "plain", phantom)
    _, record, rows = log_of(tmp_path, "masked", replace(phantom, mask_hu=mask_hu))
    assert_log_matches(truth, rows, phantom)
    assert_same_numbers(rows, plain_rows, truth)
    assert record.surroundings["mask_hu"] == mask_hu and plain.surroundings["mask_hu"] is None
    assert "a mask, no PixelPaddingValue" in record.surroundings["text"]
    # nothing masked inside the core (a voxel of noisy air may read −1024 exactly: left out too)
    assert np.all(column(rows, "MASKFR")[~np.isnan(truth.core_mean_hu)] <= 0.002)


@pytest.mark.parametrize("mask_hu", [3071.0, -1024.0])
def test_masked_rods_inside_the_core_are_counted_apart_not_void(tmp_path, mask_hu):
    rods = (Rod(-12.0, 6.0, 8.0, None), Rod(10.0, -9.0, 6.0, None))
    phantom = CorePhantom(layers=PEAT.layers, roots=8, pockets=0.03, mask_hu=mask_hu, rods=rods)
    truth, record, rows = log_of(tmp_path, "rods", phantom)
    known = ~np.isnan(truth.core_mean_hu)
    assert truth.masked_fraction[known].min() > 0.02
    assert_log_matches(truth, rows, phantom)  # the rods are in neither the means nor the voids
    assert np.abs(column(rows, "MASKFR")[known] - truth.masked_fraction[known]).max() <= VOID
    assert record.surroundings["masked_objects"] == 2
    assert "2 masked objects inside the core" in record.surroundings["text"]


def test_pixel_padding_value_is_honoured(tmp_path):
    """PixelPaddingValue (0028,0120) +3071 HU (stored 4095) outside the core: left out as the tag
    says, no mask guessed; with PixelPaddingRangeLimit (0028,0121) a range."""
    from dataclasses import replace
    truth, plain, plain_rows = log_of(tmp_path, "plain", PEAT)
    _, record, rows = log_of(tmp_path, "padded", replace(PEAT, mask_hu=3071.0), tag=[(0x00280120, "SS", 4095)])
    assert_same_numbers(rows, plain_rows, truth)
    assert record.surroundings["padding_hu"] == [3071.0, 3071.0] and record.surroundings["mask_hu"] is None
    _, ranged, ranged_rows = log_of(tmp_path, "ranged", replace(PEAT, mask_hu=3000.0),
                                    tag=[(0x00280120, "SS", 4095), (0x00280121, "SS", 3900)])
    assert ranged.surroundings["padding_hu"] == [2876.0, 3071.0] and ranged.surroundings["mask_hu"] is None
    assert_same_numbers(ranged_rows, plain_rows, truth)


def test_a_masked_scans_picture_shows_the_mask_as_background(tmp_path):
    """+3071 HU around the core is drawn as the window's low end (black, as air), not white."""
    from dataclasses import replace

    from PIL import Image
    _, record, _ = log_of(tmp_path, "masked", replace(SAND_IN_AIR, slices=12, mask_hu=3071.0))
    picture = np.asarray(Image.open(tmp_path / "masked" / "out" / "thumbnails" / "core_001.png").convert("L"))
    _, plain, _ = log_of(tmp_path, "plain", replace(SAND_IN_AIR, slices=12))
    unmasked = np.asarray(Image.open(tmp_path / "plain" / "out" / "thumbnails" / "core_001.png").convert("L"))
    assert picture.shape == unmasked.shape
    assert np.mean(np.abs(picture.astype(int) - unmasked.astype(int))) < 2.0  # the same picture, to a grey level


def test_the_report_and_its_csv_say_what_surrounds_each_core(tmp_path):
    import csv
    from dataclasses import replace
    well_of_phantoms(tmp_path / "in", [replace(MUD_IN_WATER, slices=16), replace(PEAT, slices=16)])
    convert_tree(tmp_path / "in", tmp_path / "out")
    with open(tmp_path / "out" / "manifest.csv", newline="", encoding="utf-8") as stream:
        rows = {row["name"]: row for row in csv.DictReader(stream)}
    mud, peat = rows["core_001"], rows["core_002"]
    assert mud["air"] == "yes" and abs(float(mud["fill_hu"])) <= MEAN_HU
    assert abs(float(mud["liner_hu"]) - 300.0) <= 30.0 and 0.0 < float(mud["core_min_hu"]) < 150.0
    assert peat["fill_hu"] == peat["liner_hu"] == peat["mask_hu"] == peat["core_max_hu"] == ""
    assert float(peat["core_min_hu"]) < -300.0 and peat["surroundings"].startswith("air; core")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count('<div class="around"') == 2
    assert "fill %.0f HU" % float(mud["fill_hu"]) in page


# -- rods beside the core (issue 24 item 4) ---------------------------------------------------

BESIDE = (Rod(-30.0, -31.0, 8.0, 0.0), Rod(33.0, -27.0, 6.0, 1500.0), Rod(30.0, 32.0, 8.0, 2500.0))  # water,
# glass, aluminium: along the scan, a few mm outside a 66 mm liner


@pytest.mark.parametrize("phantom", [
    CorePhantom(rows=200, columns=200, centre_mm=(-5.0, 3.0), layers=ROCK_IN_BARREL.layers, rods=BESIDE),
    CorePhantom(rows=200, columns=200, layers=PEAT.layers, roots=8, pockets=0.03, rods=BESIDE),
    CorePhantom(rows=200, columns=200, liner="plastic", touching=True, layers=SAND_IN_AIR.layers, rods=BESIDE),
    CorePhantom(rows=200, columns=200, liner="plastic", fill=0.0, liner_inner_mm=80.0, layers=MUD_IN_WATER.layers,
                rods=(Rod(0.0, -35.0, 5.0, 1500.0), Rod(-25.0, 25.0, 6.0, 2500.0), Rod(26.0, 26.0, 6.0, 1500.0))),
], ids=["rock", "peat", "sand-in-liner", "mud-with-rods-in-its-water"])
def test_calibration_rods_beside_the_core_are_not_core(tmp_path, phantom):
    truth, record, rows = converted(tmp_path, phantom)
    assert_log_matches(truth, rows, phantom)
    centres = np.column_stack([column(rows, "CENTI"), column(rows, "CENTJ")])
    measured = ~np.isnan(centres[:, 0])
    assert np.abs(centres[measured] - truth.centres_ij[measured]).max() < 1.0
    assert record.surroundings["rods"] == 3 and "3 rods or phantoms beside the core" in record.surroundings["text"]


# -- coreCT's classes (issue 24, Done when) ---------------------------------------------------

CORECT_CLASSES = ((-773.0, "air"), (50.0, "roots and rhizomes"), (78.0, "water"), (311.0, "peat"),
                  (750.0, "particles"), (1390.0, "sand"), (3045.0, "rock and shell"))  # conv(): upper bounds, HU


def corect_shares(values: np.ndarray) -> dict:
    """coreCT's conv(): each voxel in the first class whose upper bound it does not pass."""
    bounds = np.array([bound for bound, _ in CORECT_CLASSES])
    index = np.searchsorted(bounds, values, side="left")
    return {name: float(np.mean(index == n)) for n, (_, name) in enumerate(CORECT_CLASSES)}


def test_with_corects_air_bound_the_void_fraction_is_corects_air_share(tmp_path):
    """A peat core built from coreCT's classes (roots −300, water 60, peat 200, particles 500, sand
    1000, rock 2000 HU, air pockets): with --void-threshold -772 the CT log's void fraction is
    coreCT's air share of the same voxels, slice by slice."""
    import pydicom

    from CoreBatchLoaderLib.cli import main
    inside = (Rod(-14.0, 8.0, 7.0, 60.0), Rod(12.0, 12.0, 6.0, 500.0), Rod(-6.0, -16.0, 6.0, 1000.0),
              Rod(16.0, -8.0, 5.0, 2000.0), Rod(1.0, 1.0, 10.0, -650.0))  # …and a dry rhizome: roots to coreCT,
    # void below the default −500 HU: the threshold is what makes the two agree
    phantom = CorePhantom(layers=(Layer(1e9, 200.0),), roots=10, pockets=0.05, rods=inside, slices=40)
    truth = well_of_phantoms(tmp_path / "in", [phantom])[0]
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "out"), "--void-threshold", "-772", "--quiet",
                 "--workers", "1", "--no-fsync"]) == 0
    _, _, ks, rows = read_log_csv(tmp_path / "out" / "logs" / "core_001.csv")
    x = (np.arange(phantom.columns) - (phantom.columns - 1) / 2.0)[None, :] * phantom.pixel_spacing[1]
    y = (np.arange(phantom.rows) - (phantom.rows - 1) / 2.0)[:, None] * phantom.pixel_spacing[0]
    disc = np.hypot(x, y) <= phantom.diameter_mm / 2.0 - 1.5  # coreCT's region: the core, its rim left out
    shares, voxels = [], []
    for path in truth.files:
        dataset = pydicom.dcmread(path)
        hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        shares.append(corect_shares(hu[disc]))
        voxels.append(hu[disc])
    air = np.array([s["air"] for s in shares])
    assert air.mean() > 0.03 and min(s["water"] for s in shares) > 0.005  # every class is there
    assert all(s[name] > 0.005 for s in shares for _, name in CORECT_CLASSES)
    assert np.abs(column(rows, "VOIDFR") - air).max() <= VOID
    below_default = np.array([float(np.mean(corect_values < -500.0)) for corect_values in voxels])
    assert (below_default - air).min() > VOID  # with the default threshold they would differ
