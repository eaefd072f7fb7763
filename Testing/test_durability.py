"""Durability: files reach the disk where the batch promises it, and nothing is forced under
--no-fsync.  The real os.fsync / os.fdatasync are wrapped to count their calls (they still run)."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import List

import pytest
from conftest import require_module
from CoreBatchLoaderLib import cli, files
from CoreBatchLoaderLib.files import WRITEBACK_CHUNK, AtomicFile
from CoreBatchLoaderLib.synthetic import write_well


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Every fsync/fdatasync of the run ("file" or "folder") and every write-back started."""
    calls: List[str] = []

    def counting(real):
        def call(fd: int) -> None:
            calls.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
            real(fd)
        return call

    monkeypatch.setattr(os, "fsync", counting(os.fsync))
    monkeypatch.setattr(os, "fdatasync", counting(os.fdatasync))
    real_writeback = files.start_writeback
    monkeypatch.setattr(files, "start_writeback", lambda *a: (calls.append("writeback"), real_writeback(*a)))
    return calls


def convert_well_with_scene(tmp_path: Path, *extra: str) -> Path:
    write_well(tmp_path / "well", cores=3, slices=6, rows=16, columns=16)
    out = tmp_path / "out"
    code = cli.main(["convert", str(tmp_path / "well"), str(out), "--quiet", "--workers", "1", "--compress",
                     "--start-depth", "100", "--core-length", "0.006", "--scene", *extra])
    assert code == 0 and (out / "scene.mrml").exists() and (out / "report.html").exists()
    return out


def test_no_fsync_forces_nothing_to_disk(tmp_path: Path, syncs: List[str]) -> None:
    """Volumes, manifest, report, CSV, scene files: not one fsync, fdatasync or write-back."""
    require_module("slicer", "slicer-core")
    convert_well_with_scene(tmp_path, "--no-fsync")
    assert syncs == []


def test_the_default_fsyncs_every_file_and_each_folder_once_per_step(tmp_path: Path, syncs: List[str]) -> None:
    require_module("slicer", "slicer-core")
    out = convert_well_with_scene(tmp_path)
    volumes = list(out.glob("*.nrrd"))
    assert len(volumes) == 3
    # each volume, the manifest, the report, the CSV and the scene files are fsynced before their rename
    assert syncs.count("file") >= len(volumes) + 3
    # renames become durable with their folder's fsync: once per batch step, not once per file
    assert 1 <= syncs.count("folder") < syncs.count("file")


def test_a_large_durable_file_starts_its_writeback_while_being_written(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """So the fsync before the rename finds little left to flush and never stalls on the file."""
    ranges = []
    monkeypatch.setattr(files, "start_writeback", lambda fd, offset, length: ranges.append((offset, length)))
    blocks = 3 * WRITEBACK_CHUNK // (1 << 20) + 1
    with AtomicFile(tmp_path / "big", durable=True) as atomic:
        atomic.write(b"header\n")
        for _ in range(blocks):
            atomic.write(b"x" * (1 << 20))
        atomic.commit()
    assert len(ranges) == 3
    assert [offset for offset, _ in ranges] == [0] + [o + n for o, n in ranges[:-1]]  # contiguous from 0
    assert all(length >= WRITEBACK_CHUNK for _, length in ranges)
    assert (tmp_path / "big").stat().st_size == 7 + blocks * (1 << 20)


def test_a_file_written_without_durability_starts_no_writeback(tmp_path: Path, syncs: List[str]) -> None:
    with AtomicFile(tmp_path / "big", durable=False) as atomic:
        for _ in range(2 * WRITEBACK_CHUNK // (1 << 20)):
            atomic.write(b"x" * (1 << 20))
        atomic.commit()
    assert syncs == [] and (tmp_path / "big").stat().st_size == 2 * WRITEBACK_CHUNK


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range(2) is Linux's")
def test_write_back_uses_linux_sync_file_range(tmp_path: Path) -> None:
    sync_file_range = files._sync_file_range()
    assert sync_file_range is not None
    with open(tmp_path / "f", "wb") as stream:
        stream.write(b"x" * 8192)
        stream.flush()
        assert sync_file_range(stream.fileno(), 0, 8192) == 0
