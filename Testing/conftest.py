"""Shared test helpers: the engine on sys.path, a converter, and a tree hash for "inputs untouched"."""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Dict

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CoreBatchLoader"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# First: numpy loads as the corebatchloader command loads it (one OpenBLAS thread, cli.py), in
# this process and the ones it starts (a test that needs otherwise sets its own environment)
import CoreBatchLoaderLib.cli  # noqa: E402,F401
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch  # noqa: E402
from CoreBatchLoaderLib.convert import ConvertOptions  # noqa: E402


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
        pytest.importorskip("isal")
    return request.param
