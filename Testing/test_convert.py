"""One core → one NRRD: voxel values and geometry read back with pynrrd, an independent reader."""
from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np
import pydicom
import pytest
from conftest import by_name, convert_tree
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless

VARIANTS = {
    "signed_explicit": dict(),
    "unsigned_12bit_hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "implicit_vr": dict(transfer_syntax=ImplicitVRLittleEndian),
    "big_endian": dict(transfer_syntax=ExplicitVRBigEndian),
    "rle": dict(transfer_syntax=RLELossless),
    "deflated": dict(transfer_syntax=DeflatedExplicitVRLittleEndian),
    "multiframe": dict(multiframe=True),
    "oblique": dict(row_direction=(0.6, 0.8, 0.0), column_direction=(0.0, 0.0, -1.0)),
    "shuffled_names": dict(shuffle_names=True),
    "reversed_positions": dict(reverse_positions=True),
    "fractional_rescale": dict(slope=0.5, intercept=-1024.25),
    "per_slice_rescale": dict(per_slice_rescale=True, slope=1.0, intercept=-1000.0),
    "uint8": dict(signed=False, bits_allocated=8),
    "signed_12bit": dict(bits_stored=12),
}


def read_back(path: Path):
    data, header = nrrd.read(str(path), index_order="C")  # (k, j, i)
    return data, header


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_voxels_and_geometry_equal_the_dicom_ground_truth(tmp_path: Path, variant: str) -> None:
    series = write_core_series(tmp_path / "in" / "core", **VARIANTS[variant])
    result = convert_tree(tmp_path / "in", tmp_path / "out")
    record = by_name(result)["core"]
    assert record.status == "converted", record.error
    data, header = read_back(tmp_path / "out" / record.output)
    assert header["space"] == "left-posterior-superior"
    assert list(header["kinds"]) == ["domain", "domain", "domain"]
    np.testing.assert_allclose(header["space origin"], series.origin_lps, rtol=0, atol=1e-9)
    np.testing.assert_allclose(header["space directions"], series.directions_lps.T, rtol=0, atol=1e-9)
    assert data.shape == series.values.shape
    if data.dtype.kind == "f":
        np.testing.assert_allclose(data, series.values, rtol=1e-6)
    else:
        assert np.array_equal(data, series.values)


def test_unsigned_16bit_with_negative_intercept_stays_int16(tmp_path: Path) -> None:
    """Slicer widens this to int32 (twice the file); every real value fits int16."""
    write_core_series(tmp_path / "in" / "core", signed=False, bits_stored=16, intercept=-1024.0)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    data, _ = read_back(tmp_path / "out" / "core.nrrd")
    assert record.type == "int16" and data.dtype == np.int16


def test_value_beyond_int16_falls_back_to_int32_with_a_warning(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", signed=False, bits_stored=16, intercept=-1024.0)
    ds = pydicom.dcmread(series.files[3])
    pixels = ds.pixel_array.copy()
    pixels[1, 1] = 60000  # 58976 HU: does not fit int16
    ds.PixelData = pixels.tobytes()
    ds.save_as(series.files[3])
    series.values[3, 1, 1] = 60000 - 1024
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    data, _ = read_back(tmp_path / "out" / "core.nrrd")
    assert record.type == "int32" and data.dtype == np.int32
    assert np.array_equal(data, series.values)
    assert any("int32" in w for w in record.warnings)


def test_compressed_output_holds_the_same_voxels(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core")
    convert_tree(tmp_path / "in", tmp_path / "out", compress=True)
    data, header = read_back(tmp_path / "out" / "core.nrrd")
    assert header["encoding"] == "gzip"
    assert np.array_equal(data, series.values)


def test_missing_slice_is_filled_at_its_true_position(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", slices=10, missing=(4,), slice_spacing=2.0)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    data, header = read_back(tmp_path / "out" / "core.nrrd")
    assert data.shape[0] == 10
    assert header["space directions"][2][2] == pytest.approx(2.0)
    assert np.array_equal(data[:4], series.values[:4]) and np.array_equal(data[5:], series.values[4:])
    assert np.all(data[4] == data[4].flat[0])  # one background value
    assert any("missing slice" in w for w in record.warnings)


def test_missing_slice_fails_the_core_when_asked(tmp_path: Path) -> None:
    write_core_series(tmp_path / "in" / "core", slices=10, missing=(4,))
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", gap_policy="fail"))["core"]
    assert record.status == "failed" and "missing slice" in record.error
    assert not (tmp_path / "out" / "core.nrrd").exists()


def test_slice_thickness_that_disagrees_with_positions_is_a_warning(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", slice_spacing=0.8, slice_thickness=1.25)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert record.status == "converted"
    assert record.spacing[2] == pytest.approx(0.8)
    assert any("SliceThickness" in w for w in record.warnings)
    assert series.values.shape[0] == record.dimensions[2]


def test_nhdr_points_at_the_dicom_files_in_slice_order(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", shuffle_names=True)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", output_format="nhdr"))["core"]
    assert record.output == "core.nhdr" and record.warnings == []
    text = (tmp_path / "out" / "core.nhdr").read_text()
    fields, listed = text.split("data file: LIST\n")
    assert "byte skip: -1" in fields  # every synthetic file ends with its pixel data
    assert listed.split() == [str(f.resolve()) for f in series.files]  # pynrrd cannot read LIST
    # Voxels through the slice files are checked with Slicer's own reader in test_slicer_oracle.


def test_nhdr_falls_back_to_nrrd_when_a_rescale_is_needed(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", signed=False, bits_stored=12, intercept=-1024.0)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", output_format="nhdr"))["core"]
    assert record.output == "core.nrrd"
    assert any("RescaleIntercept" in w for w in record.warnings)
    data, _ = read_back(tmp_path / "out" / "core.nrrd")
    assert np.array_equal(data, series.values)


def test_nhdr_of_a_multiframe_file_skips_to_its_pixel_data(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", multiframe=True)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out", output_format="nhdr"))["core"]
    assert record.output == "core.nhdr"
    data, header = read_back(tmp_path / "out" / "core.nhdr")
    assert np.array_equal(data, series.values)



def _strip_positions(files, keep=()) -> None:
    for n, path in enumerate(files):
        if n in keep:
            continue
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        del ds.ImageOrientationPatient
        ds.save_as(path)


def test_slices_without_any_position_are_ordered_by_instance_number_with_a_warning(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", slices=6, slice_thickness=0.8, slice_spacing=0.8)
    _strip_positions(series.files)
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert record.status == "converted"
    assert any("ImagePositionPatient" in w and "InstanceNumber" in w for w in record.warnings)
    data, header = read_back(tmp_path / "out" / "core.nrrd")
    assert np.array_equal(data, series.values)  # instance numbers follow the positions here
    assert header["space directions"][2][2] == pytest.approx(0.8)


def test_slices_with_positions_on_some_files_only_fail_the_core(tmp_path: Path) -> None:
    series = write_core_series(tmp_path / "in" / "core", slices=6)
    _strip_positions(series.files, keep=(0, 1))
    record = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert record.status == "failed" and "ImageOrientationPatient" in record.error and "IM0003.dcm" in record.error


@pytest.mark.skipif(not hasattr(__import__("os"), "posix_fadvise"), reason="no posix_fadvise on this platform")
@pytest.mark.parametrize("from_disk", [True, False])
def test_the_reader_asks_the_disk_ahead_only_when_reads_come_from_the_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, from_disk: bool) -> None:
    import os
    from CoreBatchLoaderLib.dicom import pixel_reader
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder
    write_core_series(tmp_path / "core", slices=12, rows=16, columns=16)
    [core] = scan_folder(find_core_folders(tmp_path)[0]).cores
    order = sorted(core.slices, key=lambda h: h.position[2])
    advised = []
    real_advise = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, length, advice: (
        advised.append((os.readlink("/proc/self/fd/%d" % fd), offset, length, advice)),
        real_advise(fd, offset, length, advice))[1])
    monkeypatch.setattr(pixel_reader, "READ_AHEAD_BYTES", 5 * order[0].frame_bytes)  # five slices ahead
    # every read counts as one from the disk, or none does
    monkeypatch.setattr(pixel_reader, "CACHED_READ_BYTES_PER_S", float("inf") if from_disk else 0.0)
    values, advised_after_each_read = [], []
    with pixel_reader.SliceReader(order) as reader:
        for header in order:
            values.append(reader.stored(header, "int16").copy())
            advised_after_each_read.append(len(advised))
    assert all(np.array_equal(v, pydicom.dcmread(h.path).pixel_array) for v, h in zip(values, order))
    if not from_disk:
        assert advised == []
        return
    # each slice after the first advised once, in reading order, five slices ahead of the read
    assert advised_after_each_read == [min(len(order) - 1, n + 5) for n in range(len(order))]
    assert [a[0] for a in advised] == [os.path.realpath(h.path) for h in order[1:]]
    assert all((offset, length, advice) == (h.pixel_offset, h.frame_bytes, os.POSIX_FADV_WILLNEED)
               for (_, offset, length, advice), h in zip(advised, order[1:]))


@pytest.mark.parametrize("analysis", ["CtLog", "UnwrapAnalysis"])
def test_a_disk_that_fills_while_the_ct_log_or_unwrap_is_written_stops_the_batch_and_the_rerun_redoes_the_core(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, analysis: str) -> None:
    """The volume is written, then its CT log (or unwrap) finds the disk full: the batch stops
    with what it wrote, the core is in the manifest without the fingerprint that would let a rerun
    skip it, so the rerun writes the missing file.  (An analysis' error is otherwise a warning and
    the core counts as done: the full disk was one, the batch went on, and no rerun ever wrote
    the CT log.)"""
    import errno
    import json

    from CoreBatchLoaderLib import convert

    def disk_full(self: object, context: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    write_core_series(tmp_path / "in" / "core", slices=40, rows=32, columns=28)
    with monkeypatch.context() as patch:
        patch.setattr(getattr(convert, analysis), "finish", disk_full)
        result = convert_tree(tmp_path / "in", tmp_path / "out")
    assert result.exit_code == 1 and "disk full" in (result.stopped or ""), result
    core = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"][0]
    assert core["status"] == "converted" and not core["fingerprint"], core
    assert any("disk full after the volume was written" in w for w in core["warnings"]), core["warnings"]
    rerun = by_name(convert_tree(tmp_path / "in", tmp_path / "out"))["core"]
    assert rerun.status == "converted" and rerun.ct_log and rerun.unwrap, rerun
    assert (tmp_path / "out" / rerun.ct_log).is_file() and (tmp_path / "out" / rerun.unwrap).is_file()
