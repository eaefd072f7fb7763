"""Which folders are cores, how a folder splits into cores, and what the cores are called."""
from __future__ import annotations

import shutil
from pathlib import Path

from conftest import by_name, convert_tree
from CoreBatchLoaderLib.dicom.discover import find_core_folders, is_core_of, natural_key, safe_name, scan_folder
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.data import get_testdata_file


def test_core_names_follow_the_relative_folder_path_made_file_name_safe(tmp_path: Path) -> None:
    write_core_series(tmp_path / "well 7" / "box#3", slices=3)
    write_core_series(tmp_path / "well 7" / "box#10", slices=3)
    names = [f.name for f in find_core_folders(tmp_path)]
    assert names == ["well_7_box_3", "well_7_box_10"]  # natural order, safe characters


def test_colliding_names_get_stable_suffixes(tmp_path: Path) -> None:
    write_core_series(tmp_path / "a" / "b", slices=3)
    write_core_series(tmp_path / "a_b", slices=3)
    first = [f.name for f in find_core_folders(tmp_path)]
    second = [f.name for f in find_core_folders(tmp_path)]
    assert first == second and len(set(first)) == 2


def test_folders_with_very_long_names_convert_under_short_distinct_stable_names(tmp_path: Path) -> None:
    """A 243-character folder name is a legal name, but its output's temporary file name would
    pass the 255-byte limit: names are cut to 100 characters and a checksum of the whole."""
    long_names = ["testemunho_" * 22 + ending for ending in ("topo", "base")]
    for name in long_names:
        write_core_series(tmp_path / "well" / name, rows=8, columns=8, slices=3)
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    names = [r.name for r in result.records]
    assert [r.status for r in result.records] == ["converted", "converted"], [r.error for r in result.records]
    assert len(set(names)) == 2 and all(len(n) == 100 and n.startswith("testemunho_testemunho") for n in names)
    assert names == [f.name for f in find_core_folders(tmp_path / "well")]  # the same on every run


def test_a_folder_with_two_series_gives_two_named_cores(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core", slices=4, series_number=2, seed=1, file_prefix="A")
    write_core_series(tmp_path / "core", slices=5, series_number=3, seed=2, file_prefix="B")
    result = convert_tree(tmp_path, tmp_path.parent / "out2")
    records = by_name(result)
    assert sorted(records) == ["core_s2", "core_s3"]
    assert records["core_s2"].dimensions[2] == 4 and records["core_s3"].dimensions[2] == 5


def test_non_dicom_files_and_dicomdir_are_ignored(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "core", slices=4)
    (tmp_path / "core" / "notes.txt").write_text("scanned on Tuesday")
    (tmp_path / "core" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "core" / "DICOMDIR")
    scan = scan_folder(find_core_folders(tmp_path)[0])
    assert len(scan.cores) == 1 and len(scan.cores[0].slices) == len(series.files)
    assert scan.cores[0].warnings == [] and scan.error is None


def test_folders_without_images_are_not_cores(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello")
    write_core_series(tmp_path / "core", slices=3)
    result = convert_tree(tmp_path, tmp_path.parent / "o")
    assert [r.name for r in result.records] == ["core"]


def test_output_folder_inside_input_is_not_converted_again(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core", slices=3)
    convert_tree(tmp_path, tmp_path / "nrrd")
    again = convert_tree(tmp_path, tmp_path / "nrrd")
    assert [r.name for r in again.records] == ["core"]


def test_the_input_folder_itself_can_be_the_core(tmp_path: Path) -> None:
    write_core_series(tmp_path / "C-042", slices=3)
    result = convert_tree(tmp_path / "C-042", tmp_path / "out")
    assert [r.name for r in result.records] == ["C-042"]


def test_series_split_by_image_size_gives_two_cores(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core", slices=3, rows=16, columns=16, series_uid="1.2.3.4", file_prefix="S")
    write_core_series(tmp_path / "core", slices=3, rows=20, columns=20, series_uid="1.2.3.4", file_prefix="L",
                      origin=(0.0, 0.0, 100.0))
    scan = scan_folder(find_core_folders(tmp_path)[0])
    assert sorted(len(c.slices) for c in scan.cores) == [3, 3]
    assert len({c.name for c in scan.cores}) == 2


def test_each_part_of_a_series_split_by_image_size_is_warned_naming_the_other_and_the_sizes(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core_7", slices=4, rows=16, columns=16, series_uid="1.2.3.4", file_prefix="S")
    write_core_series(tmp_path / "core_7", slices=3, rows=20, columns=24, series_uid="1.2.3.4", file_prefix="L",
                      origin=(0.0, 0.0, 100.0))
    result = convert_tree(tmp_path, tmp_path.parent / "out")
    small, large = sorted(result.records, key=lambda r: r.dimensions[2], reverse=True)
    assert {small.status, large.status} == {"converted"}
    [warning] = [w for w in small.warnings if "split" in w]
    assert large.name in warning and "16×16" in warning and "20×24" in warning and "1.2.3.4" in warning
    [warning] = [w for w in large.warnings if "split" in w]
    assert small.name in warning and "16×16" in warning and "20×24" in warning


def test_a_folder_with_two_series_of_one_size_has_no_split_warning(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core", slices=3, series_number=1, file_prefix="A")
    write_core_series(tmp_path / "core", slices=3, series_number=2, file_prefix="B", seed=5)
    result = convert_tree(tmp_path, tmp_path.parent / "out")
    assert len(result.records) == 2 and not any("split" in w for r in result.records for w in r.warnings)


def test_a_core_name_tells_which_folder_it_came_from() -> None:
    assert is_core_of("core_001", "core_001") and is_core_of("core_001_s3", "core_001")
    assert is_core_of("core_001_2", "core_001")
    assert not is_core_of("core_001_copy", "core_001") and not is_core_of("core_0012", "core_001")


def test_helpers_make_safe_and_natural_names() -> None:
    assert safe_name("Core 1/2: top") == "Core_1_2_top"
    assert sorted(["c10", "c2", "c1"], key=natural_key) == ["c1", "c2", "c10"]


def test_symlinked_core_folders_are_followed_once_and_loops_are_not(tmp_path: Path) -> None:
    import os
    write_core_series(tmp_path / "disk2" / "core_b", slices=3)
    write_core_series(tmp_path / "well" / "core_a", slices=3)
    os.symlink(tmp_path / "disk2" / "core_b", tmp_path / "well" / "core_b")
    os.symlink(tmp_path / "well", tmp_path / "well" / "core_a" / "loop")
    names = [f.name for f in find_core_folders(tmp_path / "well")]
    assert names == ["core_a", "core_b"]


def test_a_scout_image_in_the_core_folder_is_left_out_with_a_warning(tmp_path: Path) -> None:
    import pydicom
    series = write_core_series(tmp_path / "core", slices=5)
    scout = pydicom.dcmread(series.files[0])
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal topogram
    scout.SOPInstanceUID = "1.2.3.4.5.6.7.9"
    scout.save_as(tmp_path / "core" / "SCOUT.dcm")
    scan = scan_folder(find_core_folders(tmp_path)[0])
    assert [len(c.slices) for c in scan.cores] == [5]
    assert any("localizer" in w and "SCOUT.dcm" in w for w in scan.cores[0].warnings)


def test_a_dose_report_screen_capture_beside_the_slices_is_left_out_and_the_name_kept(tmp_path: Path) -> None:
    """Scanners store a colour screen capture (dose report) in its own series beside the
    slices: it is no core, so the folder still gives one core under the folder's own name (the
    name depth tables use) and converts with a warning, not a failure."""
    import numpy as np
    import pydicom
    series = write_core_series(tmp_path / "well" / "core_7", slices=5)
    report = pydicom.dcmread(series.files[0])
    report.SeriesInstanceUID, report.SOPInstanceUID = "1.2.3.4.5.6.7.10", "1.2.3.4.5.6.7.11"
    report.SeriesNumber, report.ImageType = 999, ["DERIVED", "SECONDARY", "DOSE_INFO"]
    report.SamplesPerPixel, report.PhotometricInterpretation, report.PlanarConfiguration = 3, "RGB", 0
    report.BitsAllocated, report.BitsStored, report.HighBit, report.PixelRepresentation = 8, 8, 7, 0
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        delattr(report, keyword)
    report.PixelData = np.zeros((report.Rows, report.Columns, 3), dtype=np.uint8).tobytes()
    report.save_as(tmp_path / "well" / "core_7" / "DOSE.dcm")
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    assert [(r.name, r.status, r.slices) for r in result.records] == [("core_7", "converted", 5)]
    assert any(w.startswith("left out 1 colour image (SamplesPerPixel 3") and w.endswith("DOSE.dcm")
               for w in result.records[0].warnings)


def test_a_grey_protocol_page_without_position_beside_the_slices_is_left_out(tmp_path: Path) -> None:
    """The page some scanners add as a series of its own (grey, one image, no position)."""
    import pydicom
    series = write_core_series(tmp_path / "well" / "core_8", slices=5)
    page = pydicom.dcmread(series.files[0])
    page.SeriesInstanceUID, page.SOPInstanceUID, page.SeriesNumber = "1.2.3.4.5.6.7.20", "1.2.3.4.5.6.7.21", 501
    page.SOPClassUID = page.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    del page.ImagePositionPatient
    page.save_as(tmp_path / "well" / "core_8" / "PROTOCOL.dcm")
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    assert [(r.name, r.status, r.slices) for r in result.records] == [("core_8", "converted", 5)]
    assert any(w.startswith("left out 1 image without position") and w.endswith("PROTOCOL.dcm")
               for w in result.records[0].warnings)
    lone = write_core_series(tmp_path / "alone" / "core_9", slices=1)  # a core of one slice is still a core
    assert [r.status for r in convert_tree(tmp_path / "alone", tmp_path / "out2").records] == ["converted"]
    assert len(lone.files) == 1


def test_a_slice_file_copied_twice_into_the_folder_is_one_slice(tmp_path: Path) -> None:
    """As Slicer's DICOM database keeps one file per SOPInstanceUID; a scanner that repeats a
    UID on slices at other positions loses none of them."""
    import pydicom
    series = write_core_series(tmp_path / "well" / "core_1", slices=5)
    shutil.copy(series.files[2], tmp_path / "well" / "core_1" / "IM0003 (1).dcm")
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    assert [(r.status, r.slices, r.error) for r in result.records] == [("converted", 5, None)]
    assert any(w.startswith("left out 1 duplicate file (a copy of an image") for w in result.records[0].warnings)
    repeated = write_core_series(tmp_path / "odd" / "core_2", slices=4)
    for path in repeated.files:  # one UID on every slice: a broken generator, not copies
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = "1.2.3.4.5.6.7.30"
        ds.save_as(path)
    assert [(r.status, r.slices) for r in convert_tree(tmp_path / "odd", tmp_path / "out2").records] == [
        ("converted", 4)]



def test_slice_files_emptied_or_zeroed_by_a_failed_copy_are_named_in_a_warning(tmp_path: Path) -> None:
    write_core_series(tmp_path / "core", slices=20)
    names = sorted(p.name for p in (tmp_path / "core").iterdir())
    (tmp_path / "core" / names[0]).write_bytes(b"")  # the first slice: the core's top
    (tmp_path / "core" / names[10]).write_bytes(bytes(4096))
    (tmp_path / "core" / names[-1]).write_bytes(b"garbage from a broken copy")
    (tmp_path / "core" / "notes.txt").write_text("scanned by J.")  # expected beside slices: no warning
    (tmp_path / "core" / "empty.log").write_bytes(b"")
    result = convert_tree(tmp_path, tmp_path / "out")
    [record] = result.records
    assert record.status == "converted" and record.dimensions[2] < 20
    [warning] = [w for w in record.warnings if "named like the slices" in w]
    assert warning.startswith("3 files named like the slices are no DICOM")
    for name, how in ((names[0], "empty"), (names[10], "zero-filled"), (names[-1], "no DICOM header")):
        assert "%s (%s)" % (name, how) in warning
    assert "notes.txt" not in warning and "empty.log" not in warning
