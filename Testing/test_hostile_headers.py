"""Issue 15 items 1–5: hostile numbers, cut headers, irregular gaps, MONOCHROME1 — a one-line
error or the volume Slicer gives (proved with slicer-core), never a silently wrong volume."""
from __future__ import annotations

import json
import random
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import numpy as np
import pydicom
import pytest
from conftest import by_name, convert_tree
from CoreBatchLoaderLib.batch.manifest import write_manifest
from CoreBatchLoaderLib.nrrd.reader import read_header, read_slice
from CoreBatchLoaderLib.nrrd.writer import nrrd_header
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom import config


@contextmanager
def lenient_pydicom() -> Iterator[None]:
    """Let pydicom write values a scanner should never write (the point of these tests)."""
    saved = config.settings.reading_validation_mode, config.settings.writing_validation_mode
    config.settings.reading_validation_mode = config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = saved


def set_text(files: List[Path], keyword: str, text: str, vr: str = "DS") -> None:
    """Write ``text`` as the value of ``keyword`` in each of ``files``."""
    with lenient_pydicom():
        for path in files:
            ds = pydicom.dcmread(path)
            if vr == "DS":
                ds[keyword].value = text if keyword in ds else ds.add_new(keyword, "DS", text)
            else:
                ds.add_new(pydicom.datadict.tag_for_keyword(keyword), vr, text)
            ds.save_as(path)


def strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError("%s in %s: not JSON" % (constant, path.name))
    return json.loads(path.read_text(), parse_constant=refuse)


def geometry_is_finite(nrrd_path: Path) -> bool:
    header = read_header(nrrd_path)
    numbers = np.concatenate([np.ravel(header.space_directions), header.space_origin])
    return bool(np.all(np.isfinite(numbers)))


BAD_NUMBERS = [
    ("ImageOrientationPatient", "nan\\0\\0\\0\\1\\0", "(0020,0037)"),
    ("ImagePositionPatient", "-10\\-20\\nan", "(0020,0032)"),
    ("PixelSpacing", "1e400\\0.4", "(0028,0030)"),
    ("PixelSpacing", "0.5", "(0028,0030)"),  # one number where two belong
    ("SliceThickness", "inf", "(0018,0050)"),
    ("RescaleSlope", "nan", "(0028,1053)"),
    ("RescaleIntercept", "-inf", "(0028,1052)"),
]


@pytest.mark.parametrize("keyword, text, tag", BAD_NUMBERS)
@pytest.mark.parametrize("which", ["one", "all"])
def test_a_non_finite_or_malformed_geometry_or_rescale_number_fails_its_core_in_one_line(
        tmp_path: Path, keyword: str, text: str, tag: str, which: str) -> None:
    well = tmp_path / "well"
    write_core_series(well / "good", slices=4)
    series = write_core_series(well / "bad", slices=8)
    set_text(series.files[3:4] if which == "one" else series.files, keyword, text)
    result = convert_tree(well, tmp_path / "out")
    records = by_name(result)
    assert records["good"].status == "converted"
    bad = [r for r in result.records if r.name.startswith("bad")]
    assert len(bad) == 1, "the folder split into %d cores" % len(bad)
    assert bad[0].status == "failed" and tag in bad[0].error and keyword in bad[0].error, bad[0].error
    assert "malformed" in bad[0].error and "\n" not in bad[0].error
    assert not (tmp_path / "out" / "bad.nrrd").exists()
    strict_json(tmp_path / "out" / "manifest.json")
    assert geometry_is_finite(tmp_path / "out" / "good.nrrd")


def test_text_where_a_number_belongs_is_called_malformed_not_missing(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "well" / "core", slices=3)
    with lenient_pydicom():
        for path in series.files:
            ds = pydicom.dcmread(path)
            del ds.PixelSpacing
            ds.add_new(0x00280030, "LO", "abc\\0.5")
            ds.save_as(path)
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "failed" and "(0028,0030) PixelSpacing 'abc\\0.5' is malformed" in record.error
    assert "missing" not in record.error


def test_positions_that_overflow_the_geometry_fail_the_core(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "well" / "core", slices=4)
    set_text(series.files[-1:], "ImagePositionPatient", "-10\\-20\\1e308")
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "failed" and "ImagePositionPatient" in record.error
    assert list((tmp_path / "out").glob("*.nrrd")) == []
    strict_json(tmp_path / "out" / "manifest.json")


def test_no_nrrd_header_and_no_manifest_ever_holds_a_non_finite_number(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        nrrd_header(nrrd_type="short", sizes=(2, 2, 2), space_directions=[(float("nan"), 0, 0), (0, 1, 0), (0, 0, 1)],
                    space_origin=(0, 0, 0))
    record = CoreRecord("c", "/c", status="converted", spacing=[float("inf"), 1.0, float("nan")])
    document = strict_json(write_manifest(tmp_path, [record]))
    assert document["cores"][0]["spacing"] == [None, 1.0, None]


def test_a_zero_rescale_slope_is_taken_as_1_with_a_warning_as_slicer_does(tmp_path: Path) -> None:
    from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer
    series = write_core_series(tmp_path / "well" / "core", slices=4, signed=False, bits_stored=12, intercept=-1024.0)
    set_text(series.files, "RescaleSlope", "0")
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "converted" and any("RescaleSlope is 0: taken as 1" in w for w in record.warnings)
    voxels = read_slice(tmp_path / "out" / "core.nrrd", 0)
    assert len(np.unique(voxels)) > 1, "a constant volume"
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / "core.nrrd"),
                            read_dicom_like_slicer(series.files), atol_mm=1e-4)


@pytest.mark.parametrize("signed, bits_stored, intercept", [(False, 12, -1024.0), (True, 16, 0.0), (False, 8, 0.0)])
def test_monochrome1_gives_the_volume_slicer_gives_with_a_note(tmp_path: Path, signed: bool, bits_stored: int,
                                                               intercept: float) -> None:
    from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer
    series = write_core_series(tmp_path / "well" / "core", slices=4, signed=signed, bits_stored=bits_stored,
                               bits_allocated=8 if bits_stored == 8 else 16, intercept=intercept)
    for path in series.files:
        ds = pydicom.dcmread(path)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(path)
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "converted" and any("MONOCHROME1" in w for w in record.warnings), record.warnings
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / "core.nrrd"),
                            read_dicom_like_slicer(series.files), atol_mm=1e-4)
    nhdr = convert_tree(tmp_path / "well", tmp_path / "nhdr", output_format="nhdr").records[0]
    assert nhdr.output == "core.nrrd" and any("MONOCHROME1" in w for w in nhdr.warnings)


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _pixel_element_offset(path: Path) -> int:
    data = path.read_bytes()
    return data.rindex(b"\xe0\x7f\x10\x00")


@pytest.mark.parametrize("where", ["after the file meta", "inside the header", "in the pixel data element's header",
                                   "an element length past the end"])
@pytest.mark.parametrize("end", ["first", "last"])
def test_a_header_cut_short_at_a_core_end_is_named_never_a_silently_shorter_core(
        tmp_path: Path, where: str, end: str) -> None:
    series = write_core_series(tmp_path / "well" / "core", slices=8)
    victim = series.files[0] if end == "first" else series.files[-1]
    if where == "after the file meta":
        _cut(victim, 300)
    elif where == "inside the header":
        _cut(victim, _pixel_element_offset(victim) - 40)
    elif where == "in the pixel data element's header":
        _cut(victim, _pixel_element_offset(victim) + 6)
    else:  # a private element before the pixels whose length runs past the end of the file
        ds = pydicom.dcmread(victim)
        ds.add_new(0x00290010, "LO", "HOSTILE")
        ds.add_new(0x00291010, "OB", b"\x01" * 16)
        ds.save_as(victim)
        data = bytearray(victim.read_bytes())
        at = data.index(b"\x29\x00\x10\x10OB")
        data[at + 8:at + 12] = struct.pack("<L", 0x7FFFFF00)
        victim.write_bytes(bytes(data))
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    mentioned = victim.name in (record.error or "") or any(victim.name in w for w in record.warnings)
    assert mentioned, (record.status, record.error, record.warnings)
    if record.status == "converted":
        assert record.dimensions[2] == 8 or any("cut short" in w or "unreadable" in w for w in record.warnings)


def test_half_the_slices_missing_at_random_are_filled_on_the_base_spacing_each_slice_at_its_position(
        tmp_path: Path) -> None:
    spacing, slices = 0.5, 40
    rng = random.Random(7)
    missing = sorted(rng.sample(range(1, slices - 1), slices // 2))
    series = write_core_series(tmp_path / "well" / "core", slices=slices, slice_spacing=spacing, missing=missing)
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "converted", record.error
    assert record.dimensions[2] == slices and abs(record.spacing[2] - spacing) < 1e-6
    assert any("missing slices filled" in w and "0.5000 mm grid" in w for w in record.warnings), record.warnings
    assert not any("uniform" in w for w in record.warnings), record.warnings
    header = read_header(tmp_path / "out" / "core.nrrd")
    origin, step = np.array(header.space_origin), np.array(header.space_directions[2])
    for path in series.files:  # every slice in the NRRD at its own ImagePositionPatient
        ds = pydicom.dcmread(path)
        k = int(round(float(np.dot(np.array(ds.ImagePositionPatient, float) - origin, step)) / spacing ** 2))
        assert np.allclose(origin + k * step, np.array(ds.ImagePositionPatient, float), atol=1e-4)
        expected = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
        assert np.array_equal(read_slice(tmp_path / "out" / "core.nrrd", k), expected)


def test_slices_that_fit_no_regular_grid_fail_the_core_in_one_line(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "well" / "core", slices=12, slice_spacing=0.5)
    set_text(series.files[5:6], "ImagePositionPatient", "-10\\-20\\%r" % (30.0 + 5 * 0.5 + 0.2))
    record = convert_tree(tmp_path / "well", tmp_path / "out").records[0]
    assert record.status == "failed" and "regular grid" in record.error and series.files[5].name in record.error


@pytest.mark.parametrize("bad_name", ["IM\n0003.dcm", "IM\r0003.dcm"])
def test_an_nhdr_whose_file_names_cannot_be_listed_falls_back_to_nrrd_that_slicer_reads(
        tmp_path: Path, bad_name: str) -> None:
    from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer
    series = write_core_series(tmp_path / "well" / "core", slices=5)
    renamed = series.files[2].with_name(bad_name)
    series.files[2].rename(renamed)
    files = series.files[:2] + [renamed] + series.files[3:]
    record = convert_tree(tmp_path / "well", tmp_path / "out", output_format="nhdr").records[0]
    assert record.status == "converted" and record.output == "core.nrrd", (record.output, record.error)
    assert any("written as .nrrd, not .nhdr" in w and "cannot be listed" in w for w in record.warnings)
    assert not (tmp_path / "out" / "core.nhdr").exists()
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / "core.nrrd"), read_dicom_like_slicer(files),
                            atol_mm=1e-4)
