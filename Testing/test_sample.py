"""``corebatchloader sample`` (issue 20 item 5): a well that looks like rock, with its truth beside
it, written one slice at a time.  Checked on what was written — the DICOM pixels and the CT log the
batch measures from them — against ``truth.json``."""
from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pydicom
import pytest
from conftest import convert_tree

from CoreBatchLoaderLib.cli import build_parser
from CoreBatchLoaderLib.synthetic.sample_well import DEPTHS_NAME, TRUTH_NAME, write_sample_well
from CoreBatchLoaderLib.well.options import SceneOptions

DEMO = dict(cores=6, slices=120, size=96, top_m=2450.0)  # what `make demo` writes


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo's well, converted with its depth table as `make demo` does: (truth, well, output)."""
    root = tmp_path_factory.mktemp("demo")
    truth = write_sample_well(root / "well", **DEMO)
    result = convert_tree(root / "well", root / "out",
                          scene=SceneOptions(depths_file=root / "well" / DEPTHS_NAME, well_name="Demo"))
    assert result.exit_code == 0 and [r.status for r in result.records] == ["converted"] * DEMO["cores"]
    return truth, root / "well", root / "out"


def well_log(out: Path) -> Dict[str, np.ndarray]:
    """well_ct_log.csv's columns by mnemonic (DEPT, CTMEAN, VOIDFR…), NaN where no core."""
    with open(out / "well_ct_log.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    names = [re.sub(r"\[.*\]$", "", h) for h in rows[0]]
    table = np.array([[float(c) if c else np.nan for c in row] for row in rows[1:]])
    return {name: table[:, n] for n, name in enumerate(names)}


def margin_m(truth: dict, core: dict) -> float:
    """How far along the axis a bed boundary reaches across the core (its dip and the core's tilt)
    and a slice: the CT log mixes two beds within this of a boundary."""
    radius = core["diameter_mm"] / 2.0
    return (radius * (math.tan(math.radians(core["beds"]["dip_deg"])) + math.tan(math.radians(core["tilt_deg"])))
            + 2 * truth["well"]["slice_spacing_mm"]) / 1000.0


def core_at(truth: dict, depth_m: float) -> dict:
    return next(c for c in truth["cores"] if c["top_m"] <= depth_m < c["bottom_m"])


def test_the_demos_ct_log_shows_each_bed_at_its_true_depth(demo) -> None:
    """Inside every bed (away from its boundaries by their reach across the dipping core), the
    well's CT log reads the bed's CT number; beds of different rock read different numbers.
    Catches: a sample of identical stripes, beds drawn at other depths than truth.json says (or
    the other way up), a depth table that places the cores elsewhere."""
    truth, _, out = demo
    log = well_log(out)
    checked = []
    for bed in truth["beds"]:
        top, bottom = max(bed["top_m"], truth["well"]["top_m"]), min(bed["bottom_m"], truth["well"]["bottom_m"])
        inside = (log["DEPT"] > top + margin_m(truth, core_at(truth, top)))
        inside &= log["DEPT"] < bottom - margin_m(truth, core_at(truth, min(bottom, truth["well"]["bottom_m"] - 1e-6)))
        inside &= np.isfinite(log["CTMEAN"]) & (log["VOIDFR"] == 0)  # not across a fracture, vug or rubble
        if inside.sum() < 10:
            continue  # a thin bed, or one cut by a core boundary
        assert np.median(log["CTMEAN"][inside]) == pytest.approx(bed["hu"], abs=40.0), bed
        checked.append(bed["hu"])
    assert len(checked) >= 6 and len(set(checked)) >= 4, checked  # many beds, several rocks


def test_the_cores_differ(demo) -> None:
    """Each core crosses beds of several CT numbers, and no two cores log alike (the old sample's
    cores were the same stripes).  Catches: one phantom written for every core."""
    truth, _, out = demo
    log = well_log(out)
    per_core = []
    for core in truth["cores"]:
        inside = (log["DEPT"] >= core["top_m"]) & (log["DEPT"] < core["bottom_m"]) & np.isfinite(log["CTMEAN"])
        means = log["CTMEAN"][inside]
        assert np.percentile(means, 90) - np.percentile(means, 10) > 200, core["name"]  # more than one bed
        per_core.append(np.round(means[:200] / 50.0))
    for a in range(len(per_core)):
        for b in range(a + 1, len(per_core)):
            assert not np.array_equal(per_core[a], per_core[b])
    directions = {round(c["beds"]["dip_direction_deg"]) for c in truth["cores"]}
    assert len(directions) == len(truth["cores"])  # each core turned its own way


def _slice_at(folder: Path, depth_m: float, core: dict, spacing_mm: float) -> np.ndarray:
    """The HU of the slice of ``core`` whose centre is nearest ``depth_m`` (slices run down from the top)."""
    k = int(round((depth_m - core["top_m"]) * 1000.0 / spacing_mm - 0.5))
    datasets = [pydicom.dcmread(str(f)) for f in sorted((folder / core["name"]).iterdir())]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    d = datasets[k]
    return d.pixel_array.astype(float) * float(d.RescaleSlope) + float(d.RescaleIntercept)


def test_the_beds_dip_toward_the_azimuth_the_truth_gives(demo) -> None:
    """Just above and just below where a bed boundary crosses a core's axis (by 0.4 r·tan δ), the
    slice holds the upper bed on the side the boundary dips toward (it lies deeper there) and the
    lower bed on the other side.  Catches: flat beds (one bed across each of those slices), a dip
    direction drawn against the unwrap's convention (from +i toward +j, deepest at ψ)."""
    truth, well, _ = demo
    spacing = truth["well"]["slice_spacing_mm"]
    pixel = truth["well"]["pixel_spacing_mm"]
    tested = 0
    for upper, lower in zip(truth["beds"], truth["beds"][1:]):
        boundary = upper["bottom_m"]
        if not truth["well"]["top_m"] + 0.005 < boundary < truth["well"]["bottom_m"] - 0.005:
            continue
        core = core_at(truth, boundary)
        if not core["top_m"] + 0.005 < boundary < core["bottom_m"] - 0.005 or core["fractures"] or core["vugs"] \
                or core["rubble"]:
            continue
        radius_px = core["diameter_mm"] / 2.0 / pixel
        offset_m = 0.4 * core["diameter_mm"] / 2.0 * math.tan(math.radians(core["beds"]["dip_deg"])) / 1000.0
        psi = math.radians(core["beds"]["dip_direction_deg"])
        for depth in (boundary - offset_m, boundary + offset_m):
            hu = _slice_at(well, depth, core, spacing)
            columns, rows = np.meshgrid(np.arange(hu.shape[1]), np.arange(hu.shape[0]))
            rock = (hu > 1000.0) & (np.hypot(columns - hu.shape[1] / 2, rows - hu.shape[0] / 2) < radius_px + 2)
            centre = np.array([columns[rock].mean(), rows[rock].mean()])  # the axis, not the liner
            for sign, expected, other in ((1, upper, lower), (-1, lower, upper)):
                x, y = np.round(centre + sign * 0.6 * radius_px * np.array([math.cos(psi), math.sin(psi)])).astype(int)
                patch = hu[y - 1:y + 2, x - 1:x + 2].mean()
                assert abs(patch - expected["hu"]) < abs(patch - other["hu"]), (core["name"], depth, sign, patch)
        tested += 1
    assert tested >= 2


def test_a_fracture_a_vug_and_rubble_open_the_rock_where_the_truth_says(demo) -> None:
    """The CT log's void fraction is above zero at each fracture's, vug's and rubble interval's
    depth, and zero in the same core away from them.  Catches: a feature missing or drawn
    elsewhere than truth.json says."""
    truth, _, out = demo
    log = well_log(out)
    features = []
    for core in truth["cores"]:
        features += [(core, f["depth_m"]) for f in core["fractures"]]
        features += [(core, v["depth_m"]) for v in core["vugs"]]
        if core["rubble"]:
            features.append((core, (core["rubble"]["top_m"] + core["rubble"]["bottom_m"]) / 2.0))
    assert {bool(c["fractures"]) for c in truth["cores"]} == {True, False}  # some cores have one, not all
    assert any(c["vugs"] for c in truth["cores"]) and any(c["rubble"] for c in truth["cores"])
    for core, depth in features:
        near = np.abs(log["DEPT"] - depth) < 0.0015
        assert np.nanmax(log["VOIDFR"][near]) > 0.0, (core["name"], depth)
    quiet = [c for c in truth["cores"] if not (c["fractures"] or c["vugs"] or c["rubble"])]
    assert quiet
    for core in quiet:
        inside = (log["DEPT"] >= core["top_m"]) & (log["DEPT"] < core["bottom_m"])
        assert np.nanmax(log["VOIDFR"][inside]) == 0.0, core["name"]


def test_every_slice_says_how_it_was_scanned_and_the_demos_manifest_and_report_carry_it(demo) -> None:
    """The scan's tags (KVP, current, exposure, kernel, scanner, date) on every slice of every
    core, the same for all and as truth.json says; the manifest reads them back and the report's
    Scan column shows them instead of "—"."""
    truth, well, out = demo
    scan = truth["cores"][0]["scan"]
    assert set(scan) == {"KVP", "XRayTubeCurrent", "Exposure", "ConvolutionKernel", "Manufacturer",
                         "ManufacturerModelName", "AcquisitionDate"}
    assert all(core["scan"] == scan for core in truth["cores"])
    for core in truth["cores"]:
        for path in sorted((well / core["name"]).iterdir()):
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
            assert {keyword: str(ds.data_element(keyword).value) for keyword in scan} == \
                {keyword: str(value) for keyword, value in scan.items()}, path
    date = scan["AcquisitionDate"]
    expected = {"kvp": float(scan["KVP"]), "tube_current_ma": float(scan["XRayTubeCurrent"]),
                "exposure_mas": float(scan["Exposure"]), "kernel": scan["ConvolutionKernel"],
                "manufacturer": scan["Manufacturer"], "model": scan["ManufacturerModelName"],
                "acquisition_date": "%s-%s-%s" % (date[:4], date[4:6], date[6:])}
    records = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["cores"]
    assert len(records) == len(truth["cores"])
    for record in records:
        assert {key: record[key] for key in expected} == expected, record["name"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count("%g kVp" % float(scan["KVP"])) >= len(truth["cores"])
    assert report.count("kernel %s" % scan["ConvolutionKernel"]) >= len(truth["cores"])


def test_the_truth_and_depth_table_are_beside_the_cores(demo) -> None:
    truth, well, _ = demo
    assert json.loads((well / TRUTH_NAME).read_text()) == truth
    assert (well / DEPTHS_NAME).read_text().splitlines()[:2] == ["core,top,bottom", "core_001,2450.0,2450.12"]
    assert sorted(p.name for p in well.iterdir() if p.is_dir()) == ["core_%03d" % n for n in range(1, 7)]


def test_sample_help_documents_every_option_and_its_default() -> None:
    sample = build_parser()._subparsers._group_actions[0].choices["sample"]
    options = [a for a in sample._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"cores", "slices", "size", "slice_spacing", "pixel_spacing", "start_depth",
                                         "seed"}
    for action in options:
        assert action.help and "(default %(default)s" in action.help, action.dest


def peak_rss_mb(arguments: List[str]) -> float:
    """Peak RSS of ``corebatchloader sample ARGUMENTS`` in MB, measured by a fresh process for which
    it is the only child (RUSAGE_CHILDREN is the largest child's peak: this suite's others would count)."""
    code = ("import resource, subprocess, sys; "
            "done = subprocess.run([sys.executable, '-m', 'CoreBatchLoaderLib.cli', 'sample'] + sys.argv[1:], "
            "capture_output=True, text=True); "
            "assert done.returncode == 0, done.stderr; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    run = subprocess.run([sys.executable, "-c", code] + arguments, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    return int(run.stdout.split()[-1]) / 1024.0  # ru_maxrss is in KiB on Linux


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB (Linux)")
def test_writing_the_sample_takes_the_memory_of_a_slice_not_of_the_well(tmp_path: Path) -> None:
    """256² slices: a well of 4 cores × 200 slices (800 slices: 105 MB of pixels, 26 MB a core)
    peaks within 10 MB of one core of 2 slices, and under 150 MB — the memory is a slice's, not a
    core's or the well's (the full 20 × 400 × 256² well, 1 GB of pixels: bench/sample_memory.py,
    docs/sample.md).  Catches: a core's slices kept until its files are written (write_phantom
    building every slice first), or the well's (the old sample, write_well's stacked truth)."""
    small = peak_rss_mb([str(tmp_path / "small"), "--cores", "1", "--slices", "2", "--size", "256"])
    large = peak_rss_mb([str(tmp_path / "large"), "--cores", "4", "--slices", "200", "--size", "256"])
    assert large < 150.0 and large - small < 10.0, (small, large)
