"""The `corebatchloader convert` command: exit statuses, manifest, resuming, never overwriting."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tree_digest
from CoreBatchLoaderLib.synthetic import write_core_series, write_well

MANIFEST_KEYS = {"name", "source", "series_uid", "status", "output", "error", "warnings", "dimensions",
                 "spacing", "origin_lps", "directions_lps", "type", "seconds"}


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_a_clean_well_converts_with_exit_status_0_and_a_full_manifest(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=3, slices=5)
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--workers", 2)
    assert run.returncode == 0, run.stderr
    cores = manifest(tmp_path / "out")["cores"]
    assert [c["name"] for c in cores] == ["core_001", "core_002", "core_003"]
    for core in cores:
        assert MANIFEST_KEYS <= set(core)
        assert core["status"] == "converted" and core["error"] is None
        assert core["source"] == str((tmp_path / "well" / core["name"]).resolve())
        assert (tmp_path / "out" / core["output"]).is_file()
        assert core["dimensions"] == [20, 24, 5]


def test_one_failed_core_gives_exit_status_1_and_the_others_convert(tmp_path: Path) -> None:
    write_core_series(tmp_path / "well" / "good", slices=4)
    write_core_series(tmp_path / "well" / "bad", slices=4, duplicate=(1,))
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "FAILED bad: duplicate slice position" in run.stderr
    statuses = {c["name"]: c["status"] for c in manifest(tmp_path / "out")["cores"]}
    assert statuses == {"good": "converted", "bad": "failed"}


@pytest.mark.parametrize("problem", ["missing_input", "output_is_a_file", "bad_option"])
def test_usage_errors_give_exit_status_2_without_a_traceback(tmp_path: Path, problem: str) -> None:
    write_core_series(tmp_path / "well" / "core", slices=3)
    (tmp_path / "file.txt").write_text("x")
    args = {"missing_input": (tmp_path / "nope", tmp_path / "out"),
            "output_is_a_file": (tmp_path / "well", tmp_path / "file.txt"),
            "bad_option": (tmp_path / "well", tmp_path / "out", "--workers", "0")}[problem]
    run = cli("convert", *args)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "error" in run.stderr


def test_rerun_skips_unchanged_cores_and_converts_changed_ones(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    assert cli("convert", tmp_path / "well", tmp_path / "out", "--quiet").returncode == 0
    first = (tmp_path / "out" / "core_001.nrrd").stat().st_mtime_ns
    write_core_series(tmp_path / "well" / "core_002", slices=6, seed=9)  # the source changed
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert run.returncode == 0, run.stderr
    statuses = {c["name"]: c["status"] for c in manifest(tmp_path / "out")["cores"]}
    assert statuses == {"core_001": "skipped", "core_002": "converted"}
    assert (tmp_path / "out" / "core_001.nrrd").stat().st_mtime_ns == first
    assert manifest(tmp_path / "out")["cores"][1]["dimensions"][2] == 6


def test_overwrite_converts_again(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=4)
    cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--overwrite")
    assert run.returncode == 0
    assert manifest(tmp_path / "out")["cores"][0]["status"] == "converted"


def test_a_foreign_file_under_an_output_name_is_never_overwritten(tmp_path: Path) -> None:
    write_core_series(tmp_path / "well" / "core", slices=3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "core.nrrd").write_text("somebody else's work")
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert run.returncode == 1 and "--overwrite" in run.stderr
    assert (tmp_path / "out" / "core.nrrd").read_text() == "somebody else's work"


def test_inputs_are_byte_identical_after_a_run(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    before = tree_digest(tmp_path / "well")
    cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--compress")
    assert tree_digest(tmp_path / "well") == before


def test_sample_command_writes_a_well_that_converts(tmp_path: Path) -> None:
    assert cli("sample", tmp_path / "well", "--cores", 2, "--slices", 5, "--size", 16).returncode == 0
    run = cli("convert", tmp_path / "well", tmp_path / "out")
    assert run.returncode == 0 and "2 converted" in run.stdout


def test_rerun_with_other_output_settings_converts_again(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=4)
    cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet", "--compress")
    assert run.returncode == 0, run.stderr
    assert manifest(tmp_path / "out")["cores"][0]["status"] == "converted"
    assert b"encoding: gzip" in (tmp_path / "out" / "core_001.nrrd").read_bytes()[:400]


def test_compress_without_the_fast_deflate_says_in_one_line_what_to_install(
        tmp_path: Path, gzip_library: str, capsys: pytest.CaptureFixture) -> None:
    from CoreBatchLoaderLib.cli import main
    from CoreBatchLoaderLib.nrrd.deflate import FAST_GZIP_MISSING
    write_well(tmp_path / "well", cores=1, slices=4)
    assert main(["convert", str(tmp_path / "well"), str(tmp_path / "out"), "--quiet", "--workers", "1",
                 "--no-fsync", "--compress"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "isal" in line]
    assert notes == ([] if gzip_library == "isal" else ["corebatchloader: " + FAST_GZIP_MISSING])


def test_a_long_list_of_problems_is_cut_and_points_to_the_report(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.cli import SUMMARY_LINES
    for n in range(SUMMARY_LINES + 5):
        write_core_series(tmp_path / "well" / ("bad_%02d" % n), slices=3, duplicate=(1,), seed=n)
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert run.returncode == 1
    assert run.stderr.count("FAILED ") == SUMMARY_LINES
    assert "and 5 more lines" in run.stderr and "report.html" in run.stderr


def test_an_input_without_any_dicom_series_is_exit_status_1_with_one_line(tmp_path: Path) -> None:
    """A wrong INPUT (photos, a parent folder of something else) must not pass for a done batch."""
    (tmp_path / "photos" / "box1").mkdir(parents=True)
    (tmp_path / "photos" / "box1" / "IMG_0001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not DICOM")
    run = cli("convert", tmp_path / "photos", tmp_path / "out", "--quiet")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "no DICOM image series found under %s (1 folder with files looked at)" % (tmp_path / "photos") in run.stderr


@pytest.mark.parametrize("output, message", [
    (".", "the output folder is the input folder"),
    ("core_001", "holds DICOM files of the input (a core folder?)"),
])
def test_an_output_folder_that_is_the_input_or_one_of_its_cores_is_refused_before_anything_is_written(
        tmp_path: Path, output: str, message: str) -> None:
    write_well(tmp_path / "well", cores=2, slices=3)
    before = tree_digest(tmp_path / "well")
    run = cli("convert", tmp_path / "well", tmp_path / "well" / output, "--quiet")
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert tree_digest(tmp_path / "well") == before  # not one file added or changed



def numpy_blas() -> str:
    """The name of the BLAS numpy was built with ("" when numpy cannot say)."""
    import numpy
    try:
        return str(numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"])
    except Exception:  # an older numpy: no dictionary form
        return ""


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="threads counted in /proc; OpenBLAS starts none on one CPU")
@pytest.mark.skipif("openblas" not in numpy_blas().lower(), reason="numpy is not built with OpenBLAS here")
def test_the_command_runs_numpy_without_openblas_threads_unless_the_user_asks_for_them() -> None:
    """OpenBLAS's threads spin for ~130 ms of CPU once numpy loads: a batch worker's time."""
    code = ("import os, CoreBatchLoaderLib.cli, numpy; numpy.ones((64, 64)) @ numpy.ones((64, 64)); "
            "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])")
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=environment)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.split() == ["1", "1"]
    asked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env={**environment, "OPENBLAS_NUM_THREADS": "2"})
    assert asked.stdout.split() == ["2", "2"], asked.stderr
