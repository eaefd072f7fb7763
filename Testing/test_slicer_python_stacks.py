"""The engine on the Python stacks the 3D Slicer releases ship — same files, byte for byte.

| Slicer    | Python  | pydicom | bundled decoders (besides numpy's) |
|-----------|---------|---------|------------------------------------|
| 5.4 – 5.8 | 3.9     | 2.4     | Pillow                             |
| 5.10      | 3.12    | 2.4.4   | Pillow                             |
| 5.12      | 3.12    | 3.0.2   | Pillow, pyjpegls                   |

Each stack is a virtual environment built once and cached (``realdata.cached_venv``) from the
pyenv interpreters 3.9.18 and 3.12.1, with what the release bundles (Slicer/Slicer
SuperBuild/External_python-dicom-requirements.cmake at each tag), and again with the decoder the
module installs on first use.  On every stack the synthetic writer (the Slicer self-test's data)
must write the same bytes, and a folder written on the oldest stack must convert to the same NRRD
bytes, with the same ``--progress json`` lines the Slicer module reads from its child process.
JPEG Lossless, JPEG-LS and JPEG 2000 cores are converted as a user of each release sees it:
those the bundled packages decode convert at once; the others fail saying what to install, and
exactly those are what the module offers the decoder for (``cores_missing_a_decoder``); after
the install, the rerun converts just those cores (the rest are skipped) to the same bytes.  A
stack whose interpreter is missing is skipped, with the reason.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import ROOT
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.slicer_process import cores_missing_a_decoder
from realdata import cached_venv

PYENV = Path.home() / ".pyenv" / "versions"
STACKS = {  # name: (interpreter, what the release ships)
    "slicer-5.4-5.8": ("3.9", ["numpy>=1.21,<2", "pydicom>=2.4,<3", "Pillow==10.0.0"]),
    "slicer-5.10": ("3.12", ["numpy", "pydicom==2.4.4", "pillow==11.2.1"]),
    "slicer-5.12": ("3.12", ["numpy", "pydicom==3.0.2", "pillow==12.2.0", "pyjpegls==1.5.1"]),
}
# What the module installs on first use, after asking (CoreBatchLoaderLogic.installPackage of
# pixel_reader.DECODER_REQUIREMENT, Resources/requirements.txt)
DECODER = {"3.9": "python-gdcm<=3.2.2", "3.12": "python-gdcm"}
OLDEST = "slicer-5.4-5.8"
COMPRESSED = {  # cores added, transcoded by GDCM: name → transfer syntax UID
    "jpeg_lossless_sv1": "1.2.840.10008.1.2.4.70", "jpeg_ls_lossless": "1.2.840.10008.1.2.4.80",
    "jpeg2000_lossless": "1.2.840.10008.1.2.4.90"}
# What each release's bundled packages decode (pydicom's handlers: Pillow → JPEG 2000, pyjpegls →
# JPEG-LS on pydicom 3); JPEG Lossless needs GDCM (or pylibjpeg-libjpeg) everywhere.
CONVERT_AS_SHIPPED = {"slicer-5.4-5.8": {"jpeg2000_lossless"}, "slicer-5.10": {"jpeg2000_lossless"},
                      "slicer-5.12": {"jpeg2000_lossless", "jpeg_ls_lossless"}}
# write_core_series options as JSON (transfer syntaxes by UID); "selftest" is the self-test's well.
VARIANTS = {
    "plain": {}, "hu": dict(signed=False, bits_stored=12, intercept=-1024.0),
    "rle": dict(transfer_syntax="1.2.840.10008.1.2.5"), "big": dict(transfer_syntax="1.2.840.10008.1.2.2"),
    "implicit": dict(transfer_syntax="1.2.840.10008.1.2"),
    "deflate": dict(transfer_syntax="1.2.840.10008.1.2.1.99"), "multi": dict(multiframe=True),
    "byte": dict(bits_allocated=8, signed=False, columns=21),
    "fractional": dict(slope=0.5, intercept=-1024.25), "gap": dict(missing=[3]),
    "oblique": dict(row_direction=[0.6, 0.8, 0.0], column_direction=[0.0, 0.0, -1.0]),
}
WRITER = """
import json, sys
from CoreBatchLoaderLib.synthetic import write_core_series, write_well
root, variants = sys.argv[1], json.loads(sys.argv[2])
for name, options in variants.items():
    write_core_series(root + "/" + name, **options)
# The Slicer self-test's well (CoreBatchLoader.py: CoreBatchLoaderTest._well)
write_well(root + "/selftest", cores=3, slices=9, signed=False, bits_stored=12, intercept=-1024.0)
"""


def interpreter(version: str) -> str:
    """The pyenv interpreter for ``version`` (e.g. "3.9"), or skip naming what is missing."""
    found = sorted(PYENV.glob(version + ".*/bin/python")) if PYENV.is_dir() else []
    for candidate in [str(p) for p in found] + [shutil.which("python" + version) or ""]:
        if candidate:
            probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True)
            if probe.stdout.strip() == version:
                return candidate
    pytest.skip("no Python %s interpreter on this machine (looked in %s and on the PATH)" % (version, PYENV))


@pytest.fixture(scope="module")
def stacks() -> Dict[str, Path]:
    """Each release's Python as it ships."""
    return {name: cached_venv("venv-%s" % name, interpreter(version), requirements)
            for name, (version, requirements) in STACKS.items()}


@pytest.fixture(scope="module")
def installed(stacks: Dict[str, Path]) -> Dict[str, Path]:
    """Each release's Python after the module's first-use install of the decoder."""
    return {name: cached_venv("venv-%s-decoder" % name, interpreter(version), requirements + [DECODER[version]])
            for name, (version, requirements) in STACKS.items()}


def run_engine(python: Path, arguments: List[str]) -> subprocess.CompletedProcess:
    """Run the engine's code from this checkout with ``python`` (only the stack's own packages)."""
    return subprocess.run([str(python)] + arguments, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT / "CoreBatchLoader"), "PATH": "/usr/bin:/bin"})


def write_variants(python: Path, folder: Path) -> None:
    run = run_engine(python, ["-c", WRITER, str(folder), json.dumps(VARIANTS)])
    assert run.returncode == 0, run.stderr


def files_below(folder: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_synthetic_writer_writes_the_same_files_on_every_stack(tmp_path: Path, stacks: Dict[str, Path]) -> None:
    written = {}
    for name, python in list(stacks.items()) + [("suite", Path(sys.executable))]:
        write_variants(python, tmp_path / name)
        written[name] = files_below(tmp_path / name)
    reference = written.pop(OLDEST)
    assert len(reference) > 100
    for name, files in written.items():
        assert sorted(files) == sorted(reference), name
        different = [path for path in reference if files[path] != reference[path]]
        assert not different, "%s writes other bytes than %s in %s" % (name, OLDEST, different[:5])


def convert(python: Path, well: Path, out: Path, workers: int = 1) -> Dict[str, CoreRecord]:
    """``corebatchloader convert WELL OUT --progress json`` as the module's child runs it: the
    records of its folder lines, by core (nothing but JSON on stdout, an end line last)."""
    run = run_engine(python, ["-m", "CoreBatchLoaderLib.cli", "convert", str(well), str(out),
                              "--workers", str(workers), "--progress", "json"])
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines and lines[-1]["event"] == "end", (python, run.stderr)
    records = {r["name"]: CoreRecord.from_json(r) for line in lines if line["event"] == "folder" for r in line["records"]}
    assert run.returncode == (1 if any(r.status == "failed" for r in records.values()) else 0), run.stderr
    return records


def nrrds(folder: Path) -> Dict[str, bytes]:
    return {path: data for path, data in files_below(folder).items() if path.endswith(".nrrd")}


def test_a_folder_written_on_the_oldest_stack_converts_to_the_same_nrrds_on_every_stack_as_each_release_ships(
        tmp_path: Path, stacks: Dict[str, Path], installed: Dict[str, Path]) -> None:
    from compressed import SYNTAXES, transcode
    from CoreBatchLoaderLib.synthetic import write_core_series

    well = tmp_path / "well"
    write_variants(stacks[OLDEST], well)
    for name in COMPRESSED:
        for path in write_core_series(well / name, signed=False, bits_stored=12, intercept=-1024.0).files:
            transcode(path, SYNTAXES[name])
    cores = len(VARIANTS) + 3 + len(COMPRESSED)
    # The reference: the oldest release after the install, every core converted.
    records = convert(installed[OLDEST], well, tmp_path / "reference", workers=2)
    assert len(records) == cores and {r.status for r in records.values()} == {"converted"}
    reference = nrrds(tmp_path / "reference")
    assert len(reference) == cores
    for name, python in list(stacks.items()) + [("suite", Path(sys.executable))]:
        out = tmp_path / ("out-" + name)
        records = convert(python, well, out)
        lacking = set(COMPRESSED) - CONVERT_AS_SHIPPED.get(name, set(COMPRESSED))  # the suite has the decoder
        assert {n for n, r in records.items() if r.status == "failed"} == lacking, name
        for core in lacking:
            assert records[core].error.endswith("no decoder installed (pip install %s)" % DECODER[STACKS[name][0]])
        # What the module offers to install, naming the syntaxes and cores: exactly those.
        assert cores_missing_a_decoder(list(records.values())) == {COMPRESSED[core]: [core] for core in sorted(lacking)}
        if lacking:  # the install, then the module's rerun (no overwrite): just those cores convert
            again = convert(installed[name], well, out)
            assert {n for n, r in again.items() if r.status == "converted"} == lacking, name
            assert {r.status for n, r in again.items() if n not in lacking} == {"skipped"}, name
        files = nrrds(out)
        assert sorted(files) == sorted(reference), name
        different = [path for path in files if files[path] != reference[path]]
        assert not different, "%s converts to other bytes than %s after the install in %s" % (name, OLDEST, different)
