"""The engine on the Python stacks the 3D Slicer releases ship — same files, byte for byte.

| Slicer    | Python  | pydicom |
|-----------|---------|---------|
| 5.4 – 5.8 | 3.9     | 2.4     |
| 5.10      | 3.12    | 2.4.4   |
| 5.12      | 3.12    | 3.0.2   |

Each stack is a virtual environment built once and cached (``realdata.cached_venv``) from the
pyenv interpreters 3.9.18 and 3.12.1.  On every stack the synthetic writer (the Slicer
self-test's data) must write the same bytes, and a folder written on the oldest stack must
convert to the same NRRD bytes, with the same ``--progress json`` lines the Slicer module reads
from its child process — JPEG Lossless, JPEG-LS and JPEG 2000 cores too, where the stack has the
decoder the module installs on first use; on a stack without it they fail saying what to install.  A stack whose interpreter is missing is skipped, with the reason.
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
from realdata import cached_venv

PYENV = Path.home() / ".pyenv" / "versions"
STACKS = {  # name: (interpreter, requirements)
    # as after the module's first-use install of the decoder (CoreBatchLoaderLogic.installDecoders)
    "slicer-5.4-5.8": ("3.9", ["numpy>=1.21,<2", "pydicom>=2.4,<3", "python-gdcm<=3.2.2"]),
    "slicer-5.10": ("3.12", ["numpy", "pydicom==2.4.4", "python-gdcm"]),
    # as before it: compressed slices fail, saying what to install
    "slicer-5.12": ("3.12", ["numpy", "pydicom==3.0.2"]),
}
OLDEST = "slicer-5.4-5.8"
WITHOUT_DECODER = "slicer-5.12"
COMPRESSED = ("jpeg_lossless_sv1", "jpeg_ls_lossless", "jpeg2000_lossless")  # cores added, transcoded by GDCM
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
    return {name: cached_venv("venv-%s" % name, interpreter(version), requirements)
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


def test_a_folder_written_on_the_oldest_stack_converts_to_the_same_nrrds_on_every_stack(
        tmp_path: Path, stacks: Dict[str, Path]) -> None:
    from compressed import SYNTAXES, transcode
    from CoreBatchLoaderLib.synthetic import write_core_series

    well = tmp_path / "well"
    write_variants(stacks[OLDEST], well)
    for name in COMPRESSED:
        for path in write_core_series(well / name, signed=False, bits_stored=12, intercept=-1024.0).files:
            transcode(path, SYNTAXES[name])
    cores = len(VARIANTS) + 3 + len(COMPRESSED)
    outputs = {}
    for name, python in list(stacks.items()) + [("suite", Path(sys.executable))]:
        out = tmp_path / ("out-" + name)
        run = run_engine(python, ["-m", "CoreBatchLoaderLib.cli", "convert", str(well), str(out),
                                  "--workers", "2" if name == OLDEST else "1", "--progress", "json"])
        lines = [json.loads(line) for line in run.stdout.splitlines()]  # nothing but JSON on stdout
        folders = [line for line in lines if line["event"] == "folder"]
        assert len(folders) == cores and lines[-1]["event"] == "end", (name, run.stderr)
        records = {r["name"]: r for line in folders for r in line["records"]}
        if name == WITHOUT_DECODER:
            assert run.returncode == 1, run.stderr
            for core in COMPRESSED:
                assert records.pop(core)["error"].endswith("no decoder installed (pip install python-gdcm)")
        else:
            assert run.returncode == 0, (name, run.stderr)
        assert {r["status"] for r in records.values()} == {"converted"}, name
        outputs[name] = {path: data for path, data in files_below(out).items() if path.endswith(".nrrd")}
    reference = outputs.pop(OLDEST)
    assert len(reference) == cores
    for name, files in outputs.items():
        expected = sorted(p for p in reference if name != WITHOUT_DECODER or Path(p).stem not in COMPRESSED)
        assert sorted(files) == expected, name
        different = [path for path in files if files[path] != reference[path]]
        assert not different, "%s converts to other bytes than %s in %s" % (name, OLDEST, different)
