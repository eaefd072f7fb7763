"""The batch as Slicer runs it: a child process (`PythonSlicer -c BOOTSTRAP MODULE_DIR convert …
--progress json`, the command of the module's own copy of the engine) whose lines the module
reads as they come, and which Cancel stops at once.

``sys.executable`` stands for PythonSlicer here: it is a real interpreter running the real
command, as PythonSlicer does inside Slicer (the three stacks Slicer ships run the same command
in test_slicer_python_stacks).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import pytest
from CoreBatchLoaderLib import cli
from CoreBatchLoaderLib.batch.manifest import read_manifest
from CoreBatchLoaderLib.batch.run import BatchOptions, Progress, UsageError
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.files import PARTIAL_SUFFIX
from CoreBatchLoaderLib.slicer_process import ChildBatch, convert_arguments, panel_options
from CoreBatchLoaderLib.synthetic import write_core_series, write_well
from CoreBatchLoaderLib.well.options import SceneOptions
from test_signals import wait_until_no_process_left


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "CoreBatchLoaderLib.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def finish(batch: ChildBatch, cancel_when: Callable[[], bool] = lambda: False) -> List[Progress]:
    """Poll ``batch`` as the panel does until it ends; cancel as soon as ``cancel_when()`` holds."""
    seen: List[Progress] = []
    try:
        while not batch.done:
            seen += batch.poll(timeout=0.005)
            if not batch.cancelled and cancel_when():
                batch.cancel()
        seen += batch.poll()
    finally:
        if batch.process.poll() is None:  # a failed test must not leave the child behind
            batch.process.kill()
    return seen


def test_progress_json_is_one_object_per_line_and_nothing_else_on_stdout(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=3, slices=4)
    write_core_series(tmp_path / "well" / "core_004", slices=4, duplicate=(1,))  # fails
    run = run_cli("convert", tmp_path / "well", tmp_path / "out", "--workers", 2, "--progress", "json")
    assert run.returncode == 1, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    folders, stages, end = lines[:4], lines[4:-1], lines[-1]
    assert [e["event"] for e in folders] == ["folder"] * 4
    # after the last folder, the steps that still run say so (here: the report, no depths)
    assert stages == [{"event": "stage", "stage": "report", "message": "report: pictures, manifest.csv and report.html…"}]
    assert sorted(e["folders_done"] for e in folders) == [1, 2, 3, 4] and {e["folders_total"] for e in folders} == {4}
    records = {r["name"]: r for e in folders for r in e["records"]}
    assert [records[n]["status"] for n in sorted(records)] == ["converted"] * 3 + ["failed"]
    assert "duplicate slice position" in records["core_004"]["error"]
    assert end["event"] == "end" and end["exit_code"] == 1 and end["cancelled"] is False
    assert Path(end["manifest"]) == tmp_path / "out" / "manifest.json" and Path(end["report"]).is_file()
    assert "3 converted, 0 skipped, 1 failed" in run.stderr and "FAILED core_004" in run.stderr


def test_progress_json_says_why_a_batch_cannot_start(tmp_path: Path) -> None:
    run = run_cli("convert", tmp_path / "nowhere", tmp_path / "out", "--progress", "json")
    assert run.returncode == 2
    [line] = run.stdout.splitlines()
    assert json.loads(line) == {"event": "error", "exit_code": 2,
                                "message": "input folder %s does not exist" % (tmp_path / "nowhere")}


@pytest.mark.parametrize("options", [
    BatchOptions(),
    BatchOptions(convert=ConvertOptions(compress=True, gap_policy="fail", durable=False, output_format="nhdr",
                                        ct_log=False, void_threshold_hu=-612.5, unwrap_radius=None),
                 overwrite=True, workers=3, scheduler="tcp://head:8786"),
    BatchOptions(convert=ConvertOptions(unwrap_radius="30mm")),
    BatchOptions(scene=SceneOptions(depths_file=Path("depths.csv"), flip_all=True, build_scene=True,
                                    memory_budget=3 * 2 ** 30, well_name="-7 Poço", company="-Core Lab",
                                    field="Campos", uwi="7-ABC-1-RJS")),
    BatchOptions(scene=SceneOptions(start_depth_m=2450.123456789, core_length_m=0.9)),
    BatchOptions(convert=ConvertOptions(void_threshold_hu=-1e-17)),
    BatchOptions(scene=SceneOptions(start_depth_m=8038.5, core_length_m=3.0, depth_unit="ft")),
], ids=["defaults", "every-convert-option", "unwrap-in-mm", "depth-table-and-scene", "back-to-back",
                      "negative-values", "feet"])
def test_the_child_gets_the_options_the_module_asked_for(options: BatchOptions, tmp_path: Path) -> None:
    arguments = convert_arguments(tmp_path / "in", tmp_path / "out", options)
    args = cli.build_parser().parse_args(["convert"] + arguments)
    expected = options
    if options.scene.depths_file is not None:  # the child runs elsewhere: the table by its absolute path
        expected = BatchOptions(convert=options.convert, overwrite=options.overwrite, workers=options.workers,
                                scheduler=options.scheduler,
                                scene=SceneOptions(**{**options.scene.__dict__,
                                                      "depths_file": Path("depths.csv").resolve()}))
    assert cli.batch_options(args) == expected
    assert (args.input, args.output) == (tmp_path / "in", tmp_path / "out")


def test_a_child_batch_reports_each_folder_as_it_finishes_and_returns_the_manifest(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=3, slices=4)
    batch = ChildBatch.start(tmp_path / "well", tmp_path / "out", BatchOptions(workers=2), python=sys.executable)
    seen = finish(batch)
    assert sorted(p.folders_done for p in seen) == [1, 2, 3]
    assert sorted(r.name for p in seen for r in p.records) == ["core_001", "core_002", "core_003"]
    result = batch.result()
    assert batch.wait() == 0 and not result.cancelled and result.exit_code == 0
    assert result.records == read_manifest(tmp_path / "out")
    assert [r.status for r in result.records] == ["converted"] * 3
    assert result.report == tmp_path / "out" / "report.html"


def test_a_child_batch_that_cannot_start_raises_the_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    batch = ChildBatch.start(tmp_path / "file", tmp_path / "out", BatchOptions(), python=sys.executable)
    finish(batch)
    with pytest.raises(UsageError, match="is not a folder"):
        batch.result()


def launcher_like_python_slicer(folder: Path) -> str:
    """A launcher as PythonSlicer is (CTK's AppLauncher): it runs the real interpreter as its
    child and passes no signal on — a signal to it alone ends it and leaves the batch running."""
    launcher = folder / "PythonSlicer"
    launcher.write_text('#!/bin/sh\n"%s" "$@"\n' % sys.executable)
    launcher.chmod(0o755)
    return str(launcher)


@pytest.mark.parametrize("workers,through_a_launcher", [(1, False), (2, False), (2, True)])
def test_cancel_stops_the_child_in_the_middle_of_a_folder_and_the_rerun_resumes(
        tmp_path: Path, workers: int, through_a_launcher: bool) -> None:
    if through_a_launcher and os.name == "nt":
        pytest.skip("the launcher stand-in is a POSIX shell script")
    python = launcher_like_python_slicer(tmp_path) if through_a_launcher else sys.executable
    well = tmp_path / "well"
    write_well(well, cores=3, slices=4)
    # core_002 is a long core (seconds where the others take milliseconds): the batch is cancelled
    # as soon as core_002's volume is being written, so the signal lands inside that folder
    # whatever the load on the machine.  (A FIFO named like a slice no longer blocks a folder:
    # the batch never opens one, issue 15 item 7.)
    shutil.rmtree(str(well / "core_002"))
    write_core_series(well / "core_002", slices=600, rows=256, columns=256, rock=False)
    out = tmp_path / "out"
    batch = ChildBatch.start(well, out, BatchOptions(workers=workers), python=python)
    seen = finish(batch, cancel_when=lambda: any(out.glob(".core_002.nrrd.*" + PARTIAL_SUFFIX)))
    status = batch.wait(timeout=60)
    # through a launcher, its own status: that of a process SIGTERM ended (or the batch's, passed on)
    assert batch.cancelled and status in ((-15, 143) if through_a_launcher else (143,)), list(batch.stderr_tail)
    if sys.platform.startswith("linux"):  # the batch and its workers ended too (its session: the child's pid)
        assert wait_until_no_process_left(batch.process.pid) == []
    finished = [r.name for p in seen for r in p.records]
    assert "core_002" not in finished  # stopped inside core_002, not after it
    result = batch.result()
    assert result.cancelled and all(r.status == "converted" for r in result.records)
    # The manifest is the truth: every folder the panel was told of is in it, and a folder whose
    # record was saved just before the signal landed (its progress line not yet written) too.
    kept = [r.name for r in result.records]
    assert set(finished) <= set(kept) <= {"core_001", "core_003"} and kept == sorted(set(kept))  # once each
    assert [p.name for p in out.rglob("*") if PARTIAL_SUFFIX in p.name] == []
    assert all((out / r.output).is_file() for r in result.records)
    # A worker may finish core_003 between the signal and its end: complete, named by its header.
    assert {p.name for p in out.glob("*.nrrd")} <= {"core_001.nrrd", "core_003.nrrd"}
    again = ChildBatch.start(well, out, BatchOptions(workers=workers), python=python)
    finish(again)
    records = again.result().records
    assert [r.name for r in records] == ["core_001", "core_002", "core_003"]
    assert [r.status for r in records] == ["skipped" if r.name in kept else "converted" for r in records]


def test_the_panels_settings_become_the_childs_options(tmp_path: Path) -> None:
    options = panel_options(compress=True, workers=3, overwrite=True, depth_file=tmp_path / "depths.csv",
                            scene_memory_gb=2.5, well_name="Poço 7", unwrap_radius="30 mm")
    assert options.scene == SceneOptions(depths_file=tmp_path / "depths.csv", build_scene=True, well_name="Poço 7",
                                         memory_budget=2_500_000_000)
    assert (options.convert.compress, options.workers, options.overwrite) == (True, 3, True)
    args = cli.build_parser().parse_args(["convert"] + convert_arguments(tmp_path / "in", tmp_path / "out", options))
    assert cli.batch_options(args) == options
    assert panel_options(unwrap_radius=None).convert.unwrap_radius is None and panel_options().scene == SceneOptions()
    with pytest.raises(UsageError):
        panel_options(unwrap_radius="wide")


def installed_copy_first_on_the_path(folder: Path) -> Path:
    """Another copy of the package, as an Extensions Manager install beside a development
    checkout: its command says which copy ran and converts nothing."""
    lib = Path(cli.__file__).resolve().parent
    copy = folder / "installed" / "CoreBatchLoaderLib"
    shutil.copytree(str(lib), str(copy), ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "cli.py").write_text("import sys\nsys.exit('the installed copy ran')\n", encoding="utf-8")
    return copy.parent


def launcher_putting_first(folder: Path, entry: Path) -> str:
    """A launcher as CTK's is for PythonSlicer: the PYTHONPATH entries of its settings first
    (the installed extension's folder), then the real interpreter."""
    launcher = folder / "PythonSlicer"
    launcher.write_text('#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" "$@"\n' % (entry, sys.executable))
    launcher.chmod(0o755)
    return str(launcher)


@pytest.mark.skipif(os.name == "nt", reason="the launcher stand-in is a POSIX shell script")
def test_the_child_runs_the_package_beside_the_module_when_another_copy_is_first_on_the_path(tmp_path: Path) -> None:
    installed = installed_copy_first_on_the_path(tmp_path)
    python = launcher_putting_first(tmp_path, installed)
    # The case is real: with the other copy first, a plain ``-m`` run from elsewhere imports it.
    plain = subprocess.run([python, "-m", "CoreBatchLoaderLib.cli", "--version"], capture_output=True, text=True,
                           cwd=str(tmp_path), timeout=60)
    assert plain.returncode == 1 and "the installed copy ran" in plain.stderr
    write_well(tmp_path / "well", cores=2, slices=4)
    batch = ChildBatch.start(tmp_path / "well", tmp_path / "out", BatchOptions(workers=2), python=python)
    finish(batch)
    result = batch.result()
    assert [r.status for r in result.records] == ["converted", "converted"], list(batch.stderr_tail)
    assert "the installed copy ran" not in "\n".join(batch.stderr_tail)


def test_the_headless_entry_runs_the_package_beside_it_from_any_folder(tmp_path: Path) -> None:
    installed = installed_copy_first_on_the_path(tmp_path)
    write_well(tmp_path / "well", cores=1, slices=4)
    slicer_batch = Path(cli.__file__).resolve().parent / "slicer_batch.py"
    env = dict(os.environ, PYTHONPATH=str(installed))
    run = subprocess.run([sys.executable, str(slicer_batch), "well", "out", "--quiet", "--workers", "2"],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "core_001.nrrd").is_file()


def test_the_steps_after_the_last_folder_say_so_on_stderr_in_json_and_to_the_module(tmp_path: Path) -> None:
    """Issue 20 item 6: the well steps run for seconds after the bar reaches 100 %: a line each
    (stderr with the bar; a "stage" event with --progress json, which ChildBatch keeps for the panel)."""
    write_well(tmp_path / "well", cores=2, slices=4)
    depths = ["--start-depth", "100", "--core-length", "0.004"]
    bar = run_cli("convert", tmp_path / "well", tmp_path / "out", "--workers", 1, *depths)
    assert bar.returncode == 0, bar.stderr
    lines = bar.stderr.splitlines()
    well = lines.index("well: the CT log for 2 cores…")
    assert lines.index("report: pictures, manifest.csv and report.html…") > well
    quiet = run_cli("convert", tmp_path / "well", tmp_path / "quiet", "--workers", 1, "--quiet", *depths)
    assert "well: the CT log" not in quiet.stderr
    batch = ChildBatch.start(tmp_path / "well", tmp_path / "child", BatchOptions(
        workers=1, scene=SceneOptions(start_depth_m=100.0, core_length_m=0.004)), python=sys.executable)
    stages = []
    while not batch.done:
        batch.poll(timeout=0.01)
        if batch.stage and (not stages or stages[-1] != batch.stage):
            stages.append(batch.stage)
    batch.poll()
    assert batch.result().records and batch.stage == "report: pictures, manifest.csv and report.html…"
    assert set(stages) <= {"well: the CT log for 2 cores…", "report: pictures, manifest.csv and report.html…"}
