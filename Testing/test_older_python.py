"""The engine as Slicer 5.6 would run it: Python 3.9, numpy 1.x, pydicom 2.4 — same files, byte for byte.

The engine promises Python 3.9 syntax and only numpy + pydicom, at the versions older Slicer
releases ship.  This builds (once, cached) a Python 3.9 virtual environment with numpy < 2 and
pydicom < 3, converts a set of generated cores there and here, and compares every NRRD byte.
Skipped, with the reason, only when no Python 3.9 interpreter exists on the machine.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from CoreBatchLoaderLib.synthetic import write_core_series
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless
from realdata import cached_venv

OLD_STACK = ["numpy>=1.21,<2", "pydicom>=2.4,<3"]
VARIANTS = {
    "plain": {}, "hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "rle": dict(transfer_syntax=RLELossless), "big": dict(transfer_syntax=ExplicitVRBigEndian),
    "implicit": dict(transfer_syntax=ImplicitVRLittleEndian),
    "deflate": dict(transfer_syntax=DeflatedExplicitVRLittleEndian), "multi": dict(multiframe=True),
    "fractional": dict(slope=0.5, intercept=-1024.25), "gap": dict(missing=(3,)),
    "oblique": dict(row_direction=(0.6, 0.8, 0.0), column_direction=(0.0, 0.0, -1.0)),
}


def python39() -> str:
    for candidate in ("python3.9", str(Path.home() / ".pyenv" / "versions" / "3.9.18" / "bin" / "python")):
        found = shutil.which(candidate)
        if found:
            probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                                   capture_output=True, text=True)
            if probe.stdout.strip() == "True":
                return found
    pytest.skip("no Python 3.9 interpreter on this machine")


@pytest.fixture(scope="session")
def old_python() -> Path:
    return cached_venv("venv-py39-numpy1-pydicom2", python39(), OLD_STACK)


def test_python39_with_numpy1_and_pydicom2_writes_the_same_files(tmp_path: Path, old_python: Path) -> None:
    for name, options in VARIANTS.items():
        write_core_series(tmp_path / "in" / name, **options)
    command = ["-m", "CoreBatchLoaderLib.cli", "convert", str(tmp_path / "in")]
    env = {"PYTHONPATH": str(ROOT / "CoreBatchLoader"), "PATH": "/usr/bin:/bin"}
    old = subprocess.run([str(old_python)] + command + [str(tmp_path / "old"), "--quiet", "--workers", "2"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert old.returncode == 0, old.stderr
    new = subprocess.run([sys.executable] + command + [str(tmp_path / "new"), "--quiet", "--workers", "1"],
                         capture_output=True, text=True, timeout=300)
    assert new.returncode == 0, new.stderr
    for name in VARIANTS:
        assert (tmp_path / "old" / (name + ".nrrd")).read_bytes() == (tmp_path / "new" / (name + ".nrrd")).read_bytes(), name
