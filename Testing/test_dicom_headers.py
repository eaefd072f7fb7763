"""Header reading: the fast scanner and pydicom must agree on every file; pixels are never read."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from CoreBatchLoaderLib.dicom.header_scanner import scan_header
from CoreBatchLoaderLib.dicom.headers import DicomFileError, NotAnImage, read_slice_headers
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless

VARIANTS = {
    "explicit": dict(),
    "implicit": dict(transfer_syntax=ImplicitVRLittleEndian),
    "unsigned_hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "oblique": dict(row_direction=(0.6, 0.8, 0.0), column_direction=(0.0, 0.0, -1.0)),
    "big_endian": dict(transfer_syntax=ExplicitVRBigEndian),
    "rle": dict(transfer_syntax=RLELossless),
    "multiframe": dict(multiframe=True),
}


def both_ways(path: Path):
    def read(use_scanner: bool):
        try:
            return read_slice_headers(str(path), use_scanner=use_scanner)
        except (NotAnImage, DicomFileError) as exc:
            return type(exc).__name__ + ": " + str(exc)
    return read(True), read(False)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_scanner_and_pydicom_give_identical_slice_headers(tmp_path: Path, variant: str) -> None:
    series = write_core_series(tmp_path / "core", slices=3, **VARIANTS[variant])
    for path in series.files:
        fast, slow = both_ways(path)
        assert fast == slow


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm",
                                  "MR_truncated.dcm", "rtstruct.dcm", "no_meta.dcm", "badVR.dcm",
                                  "liver_1frame.dcm", "JPEG2000.dcm", "image_dfl.dcm"])
def test_scanner_and_pydicom_agree_on_pydicom_test_files(tmp_path: Path, name: str) -> None:
    source = get_testdata_file(name)
    if source is None:
        pytest.skip("%s is not shipped with this pydicom" % name)
    path = tmp_path / name
    shutil.copy(source, path)
    fast, slow = both_ways(path)
    assert fast == slow


def test_scanner_finds_the_pixel_data_offset_without_reading_pixels(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "core", slices=1, rows=64, columns=64)
    header = scan_header(str(series.files[0]))
    assert header is not None and header.pixel_length == 64 * 64 * 2
    assert header.pixel_tell + header.pixel_length == series.files[0].stat().st_size
    data = series.files[0].read_bytes()[header.pixel_tell:]
    assert data == series.stored[0].astype("<i2").tobytes()


def test_scanner_steps_over_nested_sequences_of_undefined_length(tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    series = write_core_series(tmp_path / "core", slices=1, transfer_syntax=ImplicitVRLittleEndian)
    ds = pydicom.dcmread(series.files[0])
    inner = Dataset()
    inner.CodeValue = "X"
    outer = Dataset()
    outer.ReferencedSOPInstanceUID = "1.2.3"
    outer.ProcedureCodeSequence = Sequence([inner])
    inner_copy = Dataset()
    inner_copy.CodeValue = "Y"
    second = Dataset()
    second.ProcedureCodeSequence = Sequence([inner_copy])
    ds.ReferencedImageSequence = Sequence([outer, second])
    ds["ReferencedImageSequence"].is_undefined_length = True
    outer["ProcedureCodeSequence"].is_undefined_length = True
    for item in (outer, second, inner):
        item.is_undefined_length_sequence_item = True
    ds.save_as(series.files[0])
    raw = series.files[0].read_bytes()
    assert b"\xff\xff\xff\xff" in raw  # pydicom writes undefined lengths for sequences
    header = scan_header(str(series.files[0]))
    assert header is not None and header["Rows"] == 24
    fast, slow = both_ways(series.files[0])
    assert fast == slow


@pytest.mark.skipif(sys.version_info < (3, 11), reason="slots on frozen dataclasses that pickle: Python 3.11")
def test_a_core_keeps_about_a_kilobyte_and_a_half_of_header_per_slice(tmp_path: Path) -> None:
    """A core holds its slices' headers while it converts: 1,800 slices of a 900 mm core held
    5.6 MB of them (3.1 KB a slice, half of it each header's instance dict), as much as the
    unwrap's rings.  Slots and one shared copy of the UIDs every slice repeats: ≤ 1.6 KB."""
    import tracemalloc

    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    write_core_series(tmp_path / "core", slices=200, rows=8, columns=8)
    folder = find_core_folders(tmp_path)[0]
    tracemalloc.start()
    try:
        cores = scan_folder(folder).cores
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cores[0].slices) == 200
    assert held / 200 < 1600, held / 200
