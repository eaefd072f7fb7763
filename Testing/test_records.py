"""Issue 20 item 4: each core's depth and flip, and how it was scanned, in manifest.json,
manifest.csv and the report; a well whose cores were scanned at other kVp or kernels warns."""
from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import pydicom
import pytest
from test_cli import cli

from CoreBatchLoaderLib.dicom.headers import read_slice_headers, scan_settings
from CoreBatchLoaderLib.synthetic import write_well

SCANS = {  # core → what its files say (tube current per slice: 200 mA + 10 × k, modulated)
    "core_001": dict(KVP="140", Exposure="150", Manufacturer="SIEMENS", ManufacturerModelName="SOMATOM Definition AS",
                     ConvolutionKernel=["B70s", "sharp"], AcquisitionDate="20261130"),
    "core_002": dict(KVP="140", Exposure="150", Manufacturer="SIEMENS", ManufacturerModelName="SOMATOM Definition AS",
                     ConvolutionKernel=["B70s", "sharp"], SeriesDate="20261201"),  # no AcquisitionDate: the series'
    "core_003": dict(KVP="120.0", Exposure="120", Manufacturer="GE MEDICAL SYSTEMS", ManufacturerModelName="Revolution",
                     ConvolutionKernel="BONE", AcquisitionDate="20261202"),
}


def stamp(folder: Path, tags: dict) -> None:
    """Write ``tags`` into every slice of ``folder`` (as a scanner would have), with pydicom."""
    for k, path in enumerate(sorted(folder.iterdir())):
        ds = pydicom.dcmread(str(path))
        for keyword, value in tags.items():
            setattr(ds, keyword, value)
        ds.XRayTubeCurrent = 200 + 10 * k
        ds.save_as(str(path))


@pytest.fixture(scope="module")
def well(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    write_well(root / "well", cores=3, slices=5)
    for core, tags in SCANS.items():
        stamp(root / "well" / core, tags)
    (root / "depths.csv").write_text("Core,Top (m),Bottom (m),Flip\ncore_001,2450.0,2450.005,\n"
                                     "core_002,2450.010,2450.015,yes\ncore_003,2450.015,2450.020,\n")
    run = cli("convert", root / "well", root / "out", "--quiet", "--workers", 1, "--depths", root / "depths.csv")
    return root / "out", run


def test_the_header_scan_reads_the_scan_settings_as_pydicom_does(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=3)
    stamp(tmp_path / "well" / "core_001", dict(SCANS["core_001"], Manufacturer="Tomógrafo Ñ"))
    for path in sorted((tmp_path / "well" / "core_001").iterdir()):
        fast, slow = read_slice_headers(str(path)), read_slice_headers(str(path), use_scanner=False)
        assert fast == slow
    headers = [read_slice_headers(str(p))[0] for p in sorted((tmp_path / "well" / "core_001").iterdir())]
    assert scan_settings(headers) == dict(kvp=140.0, tube_current_ma=210.0, exposure_mas=150.0,
                                          manufacturer="Tomógrafo Ñ", model="SOMATOM Definition AS",
                                          kernel="B70s\\sharp", acquisition_date="2026-11-30")


def test_a_malformed_or_missing_setting_is_unknown_not_an_error(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=2)
    folder = tmp_path / "well" / "core_001"
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(str(path))
        ds.add_new(0x00180060, "LO", "120kV")  # KVP as some consoles write it: not a number (nor a DS)
        ds.save_as(str(path))
    headers = [read_slice_headers(str(p))[0] for p in sorted(folder.iterdir())]
    assert scan_settings(headers) == dict.fromkeys(("kvp", "tube_current_ma", "exposure_mas", "manufacturer",
                                                    "model", "kernel", "acquisition_date"))


def test_the_manifest_holds_each_cores_depth_flip_and_scan(well) -> None:
    out, run = well
    cores = {c["name"]: c for c in json.loads((out / "manifest.json").read_text())["cores"]}
    assert (cores["core_002"]["top_m"], cores["core_002"]["bottom_m"], cores["core_002"]["flip"]) == (2450.01, 2450.015, True)
    assert cores["core_001"]["flip"] is False
    assert {k: cores["core_001"][k] for k in ("kvp", "tube_current_ma", "exposure_mas", "manufacturer", "model",
                                              "kernel", "acquisition_date")} == dict(
        kvp=140.0, tube_current_ma=220.0, exposure_mas=150.0, manufacturer="SIEMENS", model="SOMATOM Definition AS",
        kernel="B70s\\sharp", acquisition_date="2026-11-30")
    assert cores["core_002"]["acquisition_date"] == "2026-12-01" and cores["core_003"]["kvp"] == 120.0
    assert cores["core_003"]["spacing"] == [0.4, 0.5, 1.0]  # pixel size and slice spacing


def test_cores_scanned_at_two_kvp_and_kernels_warn_naming_them(well) -> None:
    out, run = well
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if "cores scanned with" in line]
    assert lines == [
        "corebatchloader: warning: cores scanned with 2 different tube voltages: 140 kVp: core_001, core_002; "
        "120 kVp: core_003 — their CT numbers are not comparable without a calibration",
        "corebatchloader: warning: cores scanned with 2 different reconstruction kernels: kernel B70s\\sharp: "
        "core_001, core_002; kernel BONE: core_003 — their CT numbers are not comparable without a calibration"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert html.escape(lines[0].split("warning: ", 1)[1], quote=True) in page


def test_manifest_csv_has_the_depth_and_scan_columns(well) -> None:
    out, _ = well
    with open(out / "manifest.csv", newline="", encoding="utf-8") as stream:
        rows = {row["name"]: row for row in csv.DictReader(stream)}
    assert (rows["core_002"]["top_m"], rows["core_002"]["bottom_m"], rows["core_002"]["flip"]) == (
        "2450.01", "2450.015", "yes")
    assert rows["core_001"]["flip"] == "no"
    assert (rows["core_003"]["kvp"], rows["core_003"]["kernel"], rows["core_003"]["manufacturer"],
            rows["core_003"]["model"], rows["core_003"]["acquisition_date"], rows["core_003"]["tube_current_ma"],
            rows["core_003"]["exposure_mas"]) == ("120.0", "BONE", "GE MEDICAL SYSTEMS", "Revolution", "2026-12-02",
                                                  "220.0", "120.0")


def test_the_reports_table_shows_depth_flip_and_scan(well) -> None:
    out, _ = well
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = {re.search(r'class="name">([^<]*)<', row).group(1): row
            for row in re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", page.split("<tbody>")[1], flags=re.S)}
    assert '<td class="num depth">2450.010<br>2450.015<div class="flip"' in rows["core_002"]
    assert "flipped" not in rows["core_001"] and "2450.000<br>2450.005" in rows["core_001"]
    assert "140 kVp · 220 mA · 150 mAs<br>kernel B70s\\sharp<br>SIEMENS SOMATOM Definition AS<br>2026-11-30" in rows["core_001"]


def test_a_rerun_without_depths_drops_the_last_runs_depths_from_the_records(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=3)
    (tmp_path / "d.csv").write_text("core,top,bottom\ncore_001,1.0,1.003\ncore_002,1.003,1.006\n")
    assert cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--depths", tmp_path / "d.csv").returncode == 0
    assert cli("convert", tmp_path / "well", tmp_path / "out", "--quiet").returncode == 0
    cores = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]
    assert [(c["top_m"], c["bottom_m"], c["flip"]) for c in cores] == [(None, None, None)] * 2
    assert all(c["kvp"] is None for c in cores)  # the synthetic files say nothing of their scan
