"""Every compressed transfer syntax Slicer reads converts by default, to the volume Slicer's GDCM
reader gives for the same files.

The decoder (PyPI ``python-gdcm``) is a dependency of the engine, so these run in the suite's own
environment.  Compressed series are made from the synthetic writer's files, transcoded by GDCM's
own encoder (pydicom 3 encodes none of the JPEG family but JPEG-LS and JPEG 2000, and those only
through other packages); single compressed files come bundled with pydicom.  The reference is
always slicer-core's ``vtkITKArchetypeImageSeriesScalarReader`` (GDCM), read as Slicer's DICOM
plugin reads.  A Slicer without the decoder yet is checked in test_slicer_python_stacks.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest
from conftest import ROOT, convert_tree, require_module
from CoreBatchLoaderLib.dicom.pixel_reader import DECODER_REQUIREMENT, decoder_missing
from CoreBatchLoaderLib.synthetic import write_core_series
from realdata import pydicom_test_file
from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer

gdcm = require_module("gdcm", "python-gdcm")
from compressed import SYNTAXES, transcode  # noqa: E402  (needs gdcm)

PIXELS = {
    "ct_12bit_hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "signed_16bit": dict(signed=True),
    "unsigned_8bit": dict(bits_allocated=8, signed=False),
}
BUNDLED = ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "JPEG2000.dcm"]
JPEG_12_BIT = "JPGExtended.dcm"  # JPEG Extended, 12 bits stored: lossy


def transfer_syntaxes(files: List[Path]) -> set:
    import pydicom
    return {str(pydicom.dcmread(str(f), stop_before_pixels=True).file_meta.TransferSyntaxUID) for f in files}


def test_the_decoder_is_a_dependency_and_installed_by_default() -> None:
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert DECODER_REQUIREMENT + "; python_version >= '3.10'" in project["dependencies"] and not decoder_missing()


@pytest.mark.parametrize("pixels", sorted(PIXELS))
@pytest.mark.parametrize("syntax", sorted(SYNTAXES))
def test_a_compressed_series_converts_to_what_slicer_reads(tmp_path: Path, syntax: str, pixels: str) -> None:
    series = write_core_series(tmp_path / "in" / "core", slices=6, rows=32, columns=28, shuffle_names=True,
                               **PIXELS[pixels])
    for path in series.files:
        transcode(path, SYNTAXES[syntax])
    assert transfer_syntaxes(series.files) == {str(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax,
                                                                                SYNTAXES[syntax])).GetString())}
    [record] = convert_tree(tmp_path / "in", tmp_path / "out").records
    assert record.status == "converted", record.error
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / record.output),
                            read_dicom_like_slicer(series.files))


@pytest.mark.parametrize("name", BUNDLED)
def test_compressed_files_from_other_encoders_convert_to_what_slicer_reads(tmp_path: Path, name: str) -> None:
    source = pydicom_test_file(name)
    (tmp_path / "in" / "core").mkdir(parents=True)
    shutil.copy(source, tmp_path / "in" / "core" / source.name)
    [record] = convert_tree(tmp_path / "in", tmp_path / "out").records
    assert record.status == "converted", record.error
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / record.output),
                            read_dicom_like_slicer([source]))


def test_12_bit_lossy_jpeg_without_pylibjpeg_fails_in_one_line_saying_what_to_install(tmp_path: Path) -> None:
    if not pytest.importorskip("importlib.util").find_spec("libjpeg") is None:
        pytest.skip("pylibjpeg-libjpeg is installed here")
    source = pydicom_test_file(JPEG_12_BIT)
    (tmp_path / "in" / "core").mkdir(parents=True)
    shutil.copy(source, tmp_path / "in" / "core" / source.name)
    [record] = convert_tree(tmp_path / "in", tmp_path / "out").records
    assert record.status == "failed"
    assert record.error == ("JPGExtended.dcm: cannot decode JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51): "
                            "12-bit lossy JPEG needs pylibjpeg-libjpeg (pip install pylibjpeg pylibjpeg-libjpeg)")
