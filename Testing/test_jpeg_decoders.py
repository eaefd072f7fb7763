"""Compressed slices with the optional JPEG decoders installed (the `jpeg` extra): the decoded
volume is the one Slicer's GDCM reader gives for the same file.

The decoders (pylibjpeg with its libjpeg and openjpeg plugins) are installed into their own
cached virtual environment, so the main suite keeps testing the "no decoder" message; the
conversion runs there, the comparison here with Slicer's reader and storage node.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from realdata import cached_venv, pydicom_test_file
from slicer_oracle import assert_same_world_image, load_volume_like_slicer, read_dicom_like_slicer

DECODERS = ["numpy", "pydicom>=3", "pylibjpeg>=2", "pylibjpeg-libjpeg>=2", "pylibjpeg-openjpeg>=2"]
FILES = {"jpeg2000_lossless": "MR_small_jp2klossless.dcm", "jpeg_ls_lossless": "MR_small_jpeg_ls_lossless.dcm"}


@pytest.fixture(scope="session")
def python_with_decoders() -> Path:
    return cached_venv("venv-jpeg-decoders", sys.executable, DECODERS)


@pytest.mark.parametrize("core", sorted(FILES))
def test_jpeg_family_slices_decode_to_what_slicer_reads(tmp_path: Path, python_with_decoders: Path,
                                                         core: str) -> None:
    source = pydicom_test_file(FILES[core])
    (tmp_path / "in" / core).mkdir(parents=True)
    shutil.copy(source, tmp_path / "in" / core / source.name)
    run = subprocess.run([str(python_with_decoders), "-m", "CoreBatchLoaderLib.cli", "convert",
                          str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", "--workers", "1"],
                         capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT / "CoreBatchLoader"), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert_same_world_image(load_volume_like_slicer(tmp_path / "out" / (core + ".nrrd")),
                            read_dicom_like_slicer([source]))
