"""report.html in a real browser: headless Chromium (Debian package ``chromium``) renders it and
every picture loads from disk.

Without a Chromium binary on PATH: skipped, and failed under CI=true (conftest.require).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from conftest import convert_tree, require, require_module
from CoreBatchLoaderLib.report.page import write_report
from CoreBatchLoaderLib.synthetic import write_core_series, write_well

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1400, 1000)


def find_chromium() -> Optional[str]:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


CHROMIUM = find_chromium()
CHROMIUM_MISSING = "a Chromium binary on PATH (%s); on Debian: apt-get install chromium" % ", ".join(BROWSERS)


@pytest.fixture(autouse=True)
def chromium() -> None:
    """Every test here renders in Chromium: skipped without it, failed under CI (conftest.require)."""
    require(CHROMIUM, CHROMIUM_MISSING)


def run_chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Headless, offline, a fresh profile; HOME in the temp folder so nothing lands in ~."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--user-data-dir=%s" % profile, *arguments]
    environment = dict(os.environ, HOME=str(profile))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-core well: five good cores (one with a filled missing slice), one failed (duplicate slice)."""
    root = tmp_path_factory.mktemp("browser")
    geometry = dict(slices=160, rows=48, columns=48, pixel_spacing=(0.6, 0.6), slice_spacing=0.5)
    write_well(root / "well", cores=4, **geometry)
    write_core_series(root / "well" / "core_005", missing=(40,), series_number=5, seed=5, **geometry)
    write_core_series(root / "well" / "core_006", duplicate=(2,), series_number=6, seed=6, **geometry)
    result = convert_tree(root / "well", root / "out")
    assert [r.status for r in result.records].count("failed") == 1
    return write_report(root / "out", result.records, title="Core conversion report: synthetic well")


def png_size(data: bytes) -> Tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def body_attributes(dom: str) -> dict:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, "no <body> in the dumped DOM:\n%s" % dom[:500]
    return dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))


def test_every_picture_in_the_report_loads_in_chromium(report: Path, tmp_path: Path) -> None:
    done = run_chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    attributes = body_attributes(done.stdout)
    # five thumbnails, the five cores' unwrapped surfaces and five CT log profiles (no depths)
    assert (attributes.get("data-images-loaded"), attributes.get("data-images-total")) == ("15", "15")
    assert len(re.findall(r'<img class="unwrap" src="unwrap/core_00\d_unwrap.png"', done.stdout)) == 5
    assert len(re.findall(r'<img class="profile" src="logs/core_00\d.svg"', done.stdout)) == 5


def test_chromium_renders_the_report_with_failures_first(report: Path, tmp_path: Path) -> None:
    done = run_chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", report.as_uri())
    names: List[str] = re.findall(r'class="name">([^<]*)<', done.stdout)
    assert names == ["core_006", "core_001", "core_002", "core_003", "core_004", "core_005"]


def test_chromium_screenshot_is_a_full_window_picture(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = run_chromium(tmp_path / "profile", "--screenshot=%s" % shot, "--window-size=%d,%d" % WINDOW,
                        "--virtual-time-budget=10000", report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == WINDOW
    assert len(data) > 40_000, "a near-empty page compresses to a few kB; got %d bytes" % len(data)


def test_chromium_renders_the_well_log_track_beside_the_strip(tmp_path: Path) -> None:
    """Issue 12: the report's CT log track (an SVG whose name says 'log') loads and draws."""
    require_module("slicer", "slicer-core")
    from test_well_ct_log import run_well
    _, result = run_well(tmp_path / "well")
    track = result.well.log.track
    assert "log" in track.name
    done = run_chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", result.report.as_uri())
    attributes = body_attributes(done.stdout)
    loaded, total = attributes.get("data-images-loaded"), attributes.get("data-images-total")
    assert loaded == total and 'src="%s"' % track.name in done.stdout
    shot = tmp_path / "track.png"
    done = run_chromium(tmp_path / "profile2", "--screenshot=%s" % shot, "--window-size=800,1500",
                        "--virtual-time-budget=5000", track.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert len(shot.read_bytes()) > 20_000, "the track rendered nearly blank"
