"""Shared test helpers: the engine on sys.path, a converter, a tree hash for "inputs untouched",
and :func:`require` — a missing prerequisite skips here and fails in CI (docs/testing.md)."""
from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# First: numpy loads as the corebatchloader command loads it (one OpenBLAS thread, cli.py), in
# this process and the ones it starts (a test that needs otherwise sets its own environment)
import CoreBatchLoaderLib.cli  # noqa: E402,F401
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch  # noqa: E402
from CoreBatchLoaderLib.convert import ConvertOptions  # noqa: E402


IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")  # .ci/run exports CI=true


def require(available: object, what: str) -> None:
    """A test's prerequisite (Chromium, python-gdcm, a tmpfs mount…): when it is missing the test
    is skipped on a developer's machine, and **fails** under ``CI=true`` with one line naming
    what is missing — ``.ci/run`` installs every prerequisite, so a skip there would hide a
    broken install step behind a green run.  ``what`` says what is missing and how to get it."""
    if available:
        return
    if IN_CI:
        pytest.fail("missing prerequisite (CI=true: a failure, not a skip): %s" % what, pytrace=False)
    pytest.skip("missing prerequisite: %s" % what, allow_module_level=True)


def require_module(name: str, package: str) -> ModuleType:
    """``pytest.importorskip`` under :func:`require`'s policy: the module ``name``, or a skip (a
    failure in CI) naming the ``package`` to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(False, "the Python package %s (import %s: %s); pip install %s" % (package, name, exc, package))
        raise  # pragma: no cover - require() raised


def convert_tree(input_dir: Path, output_dir: Path, **options: object) -> BatchResult:
    """Run the batch in this process (workers=1) with fsync off: fast, same code path."""
    convert_keys = {"compress", "gap_policy", "output_format"}
    convert = ConvertOptions(durable=False, **{k: v for k, v in options.items() if k in convert_keys})
    batch = {k: v for k, v in options.items() if k not in convert_keys}
    batch.setdefault("workers", 1)
    return run_batch(input_dir, output_dir, BatchOptions(convert=convert, **batch))


def tree_digest(folder: Path) -> Dict[str, str]:
    """sha256 and mode of every file below ``folder``, by relative path."""
    digest = {}
    for current, _, files in os.walk(folder):
        for name in files:
            path = Path(current, name)
            if path.is_symlink():
                digest[str(path.relative_to(folder))] = "link " + os.readlink(path)
                continue
            data = path.read_bytes()
            digest[str(path.relative_to(folder))] = "%s %o" % (hashlib.sha256(data).hexdigest(), path.stat().st_mode)
    return digest


def by_name(result: BatchResult) -> Dict[str, object]:
    return {r.name: r for r in result.records}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture(params=["isal", "zlib"])
def gzip_library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``--compress`` with the fast deflate (isal, which ``make`` installs) and with the pure-zlib
    fallback a Python without the wheel gets (isal made unimportable)."""
    if request.param == "zlib":
        monkeypatch.setitem(sys.modules, "isal", None)
        monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)
    else:
        require_module("isal", "isal")
    return request.param


def scene_volume_nodes(out: Path) -> Iterator[object]:
    """Every scalar volume node of ``out/scene.mrml`` as slicer-core imports the scene (cores,
    proxies, unwraps, the overview), with its IJK-to-RAS matrix (a ``vtkMatrix4x4``)."""
    import slicer
    import vtk
    scene = slicer.vtkMRMLScene()
    scene.SetURL(str(out / "scene.mrml"))
    assert scene.Import()
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode")
        matrix = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(matrix)
        yield node, matrix
