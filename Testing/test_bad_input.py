"""Bad input costs one clear line on its own core — never a traceback, never the batch, never the input."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import by_name, convert_tree, tree_digest
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.data import get_testdata_file


@pytest.fixture
def well(tmp_path: Path) -> Path:
    """A well with one good core; each test adds a bad one beside it."""
    root = tmp_path / "well"
    write_core_series(root / "good", slices=6)
    return root


def run(well: Path, tmp_path: Path, **options: object):
    before = tree_digest(well)
    result = convert_tree(well, tmp_path / "out", **options)
    assert tree_digest(well) == before, "the input changed"
    records = by_name(result)
    assert records["good"].status == "converted", "the good core paid for the bad one"
    for record in result.records:
        if record.error:
            assert "\n" not in record.error and "Traceback" not in record.error
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if "partial" in p.name]
    assert leftovers == []
    return records


def test_truncated_pixel_data_fails_its_core_naming_the_file(well: Path, tmp_path: Path) -> None:
    series = write_core_series(well / "short", slices=6)
    data = series.files[2].read_bytes()
    series.files[2].write_bytes(data[: len(data) - 100])
    record = run(well, tmp_path)["short"]
    assert record.status == "failed"
    assert series.files[2].name in record.error and "truncated" in record.error
    assert not (tmp_path / "out" / "short.nrrd").exists()


def test_garbage_after_a_dicom_preamble_is_named_and_the_slices_still_convert(well: Path, tmp_path: Path) -> None:
    write_core_series(well / "core", slices=6)
    (well / "core" / "IM9999.dcm").write_bytes(bytes(128) + b"DICM" + bytes(range(256)) * 4)
    record = run(well, tmp_path)["core"]
    assert record.status == "converted"
    assert any("IM9999.dcm" in w for w in record.warnings)


def test_folder_of_only_garbage_dicom_is_one_failed_line(well: Path, tmp_path: Path) -> None:
    (well / "junk").mkdir()
    (well / "junk" / "a.dcm").write_bytes(bytes(128) + b"DICM" + b"\xff" * 300)
    record = run(well, tmp_path)["junk"]
    assert record.status == "failed" and "a.dcm" in record.error


def test_duplicate_positions_fail_the_core(well: Path, tmp_path: Path) -> None:
    write_core_series(well / "dup", slices=6, duplicate=(3,))
    record = run(well, tmp_path)["dup"]
    assert record.status == "failed" and "duplicate slice position" in record.error


def test_mixed_slice_sizes_in_one_series_do_not_merge(well: Path, tmp_path: Path) -> None:
    write_core_series(well / "mixed", slices=4, rows=16, columns=16, series_uid="1.2.3", file_prefix="A")
    write_core_series(well / "mixed", slices=4, rows=24, columns=24, series_uid="1.2.3", file_prefix="B",
                      origin=(0.0, 0.0, 200.0))
    records = run(well, tmp_path)
    mixed = [r for name, r in records.items() if name.startswith("mixed")]
    assert len(mixed) == 2 and all(r.status == "converted" for r in mixed)


@pytest.mark.parametrize("shift_mm, status", [(0.05, "converted"), (0.3, "failed")])
def test_a_slice_off_the_regular_grid_is_a_warning_within_a_tenth_of_the_spacing_else_fails(
        well: Path, tmp_path: Path, shift_mm: float, status: str) -> None:
    import pydicom
    series = write_core_series(well / "wobbly", slices=8)
    ds = pydicom.dcmread(series.files[4])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + shift_mm
    ds.save_as(series.files[4])
    record = run(well, tmp_path)["wobbly"]
    assert record.status == status
    if status == "converted":
        assert any("not uniform" in w and "within 0.05" in w for w in record.warnings), record.warnings
    else:
        assert series.files[4].name in record.error and "regular grid" in record.error


def test_compressed_syntax_without_a_decoder_names_the_transfer_syntax(well: Path, tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    try:
        import pylibjpeg  # noqa: F401
        pytest.skip("a JPEG decoder is installed")
    except ImportError:
        pass
    (well / "jpeg").mkdir()
    shutil.copy(get_testdata_file("JPGExtended.dcm"), well / "jpeg" / "slice.dcm")
    record = run(well, tmp_path)["jpeg"]
    assert record.status == "failed"
    assert "JPEG" in record.error and "1.2.840.10008.1.2.4" in record.error and "pip install" in record.error


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "badVR.dcm", "no_meta.dcm", "rtstruct.dcm", "rtplan.dcm",
                                  "reportsi.dcm", "meta_missing_tsyntax.dcm", "rtplan_truncated.dcm"])
def test_pydicom_bad_and_non_image_files_never_break_the_batch(well: Path, tmp_path: Path, name: str) -> None:
    (well / "odd").mkdir()
    shutil.copy(get_testdata_file(name), well / "odd" / name)
    records = run(well, tmp_path)
    odd = records.get("odd")
    if odd is not None and odd.status == "failed":
        assert name in odd.error or odd.error  # one line, named where the file is known


def test_unreadable_slice_is_named_and_left_as_a_filled_gap(well: Path, tmp_path: Path) -> None:
    import os
    series = write_core_series(well / "locked", slices=6)
    # Root ignores permission bits, so make the path unreadable another way: a dangling symlink.
    os.unlink(series.files[1])
    os.symlink(well / "nowhere.dcm", series.files[1])
    record = run(well, tmp_path)["locked"]
    assert record.status == "converted" and any("missing slice" in w for w in record.warnings)
    assert any("IM0002.dcm: cannot read" in w for w in record.warnings)


def test_a_dicomdir_tree_converts_its_volumes_and_names_what_cannot_be_one(tmp_path: Path) -> None:
    """pydicom's dicomdirtests: DICOMDIR files, CT series, MR localizers, CR radiographs."""
    from realdata import pydicom_test_file
    shutil.copytree(pydicom_test_file("dicomdirtests"), tmp_path / "tree")
    before = tree_digest(tmp_path / "tree")
    result = convert_tree(tmp_path / "tree", tmp_path / "out")
    assert tree_digest(tmp_path / "tree") == before
    records = by_name(result)
    assert records["77654033_CT2"].status == "converted" and records["98892001_CT5N"].status == "converted"
    assert records["98892001_CT5N"].dimensions == [16, 16, 5]
    radiographs = [r for name, r in records.items() if "_CR" in name]
    assert radiographs and all(r.status == "failed" and "(0028,0030) PixelSpacing missing" in r.error
                               for r in radiographs)
    assert not any("DICOMDIR" in name for name in records)
    assert result.exit_code == 1
