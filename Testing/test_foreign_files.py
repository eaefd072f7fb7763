"""Issue 15 item 6: a file the batch did not write is never replaced without --overwrite, whatever
output it is named like (report, CSV, thumbnails, manifest, logs, scene files): one mechanism,
CoreBatchLoaderLib.files (a ledger of what AtomicFile wrote), used by every writer."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from CoreBatchLoaderLib.files import (
    LEDGER_NAME,
    AtomicFile,
    ForeignFile,
    compact_ledger,
    foreign_files_replaceable,
    write_text_atomically,
    written_by_batch,
)
from CoreBatchLoaderLib.synthetic import write_well
from test_cli import cli, manifest

FOREIGN = "somebody else's work\n"


def cards(page: str) -> dict:
    """The report's summary cards: label → the number shown."""
    return {label: value for value, label in re.findall(r'<div class="n">([^<]*)</div><div class="l">([^<]*)</div>', page)}


def test_an_atomic_file_replaces_its_own_file_but_not_one_it_did_not_write(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.txt", tmp_path / "theirs.txt"
    write_text_atomically(ours, "one")
    write_text_atomically(ours, "two")  # the batch's own file: replaced
    assert ours.read_text() == "two" and written_by_batch(ours)
    theirs.write_text(FOREIGN)
    with pytest.raises(ForeignFile, match="theirs.txt exists and was not written by this batch"):
        write_text_atomically(theirs, "mine")
    assert theirs.read_text() == FOREIGN and list(tmp_path.glob("*.partial")) == []
    ours.write_text("edited by hand")  # changed since the batch wrote it: no longer the batch's
    with pytest.raises(ForeignFile):
        write_text_atomically(ours, "three")
    with foreign_files_replaceable(True):  # --overwrite
        write_text_atomically(theirs, "mine")
    assert theirs.read_text() == "mine"


def test_a_ledger_written_by_another_process_is_read_incrementally(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    write_text_atomically(target, "1")
    assert written_by_batch(target)  # this process has now read the ledger up to here
    claim = json.dumps([target.name + "2", 1, 1]) + "\n"  # another worker appends a line
    with open(tmp_path / LEDGER_NAME, "a") as ledger:
        ledger.write(claim)
    with AtomicFile(target) as atomic:
        atomic.file.write(b"22")
        atomic.commit()
    assert written_by_batch(target)


def test_someone_elses_report_and_csv_in_the_output_folder_are_kept_and_named(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("report.html", "manifest.csv"):
        (out / name).write_text(FOREIGN)
    run = cli("convert", tmp_path / "well", out, "--quiet")
    assert run.returncode == 1, run.stderr
    assert "not written by this batch" in run.stderr and "--overwrite" in run.stderr
    assert (out / "report.html").read_text() == FOREIGN and (out / "manifest.csv").read_text() == FOREIGN
    assert [c["status"] for c in manifest(out)["cores"]] == ["converted"] * 2  # the cores still convert
    replaced = cli("convert", tmp_path / "well", out, "--quiet", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    page = (out / "report.html").read_text()  # now the batch's own page and table, of this well
    assert page.startswith("<!DOCTYPE html>") and all('%s' % name in page for name in ("core_001", "core_002"))
    table = list(csv.DictReader(io.StringIO((out / "manifest.csv").read_text())))
    assert [row["name"] for row in table] == ["core_001", "core_002"]
    again = cli("convert", tmp_path / "well", out, "--quiet")  # now the batch's own: replaced freely
    assert again.returncode == 0, again.stderr


def test_someone_elses_thumbnail_is_kept_and_the_core_says_so(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=4)
    thumbnails = tmp_path / "out" / "thumbnails"
    thumbnails.mkdir(parents=True)
    (thumbnails / "core_001.png").write_text(FOREIGN)
    run = cli("convert", tmp_path / "well", tmp_path / "out", "--quiet")
    assert (thumbnails / "core_001.png").read_text() == FOREIGN
    assert "not written by this batch" in (tmp_path / "out" / "report.html").read_text(), run.stderr


def test_someone_elses_manifest_is_a_usage_error_before_anything_is_written(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(FOREIGN)
    run = cli("convert", tmp_path / "well", out, "--quiet")
    assert run.returncode == 2 and "manifest.json exists and was not written by this batch" in run.stderr
    assert (out / "manifest.json").read_text() == FOREIGN and list(out.glob("*.nrrd")) == []


def test_an_output_folder_from_before_the_ledger_is_still_the_batchs_own(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    out = tmp_path / "out"
    assert cli("convert", tmp_path / "well", out, "--quiet").returncode == 0
    for ledger in out.rglob(LEDGER_NAME):  # as an earlier version left the folder
        ledger.unlink()
    report = (out / "report.html").read_text()
    rerun = cli("convert", tmp_path / "well", out, "--quiet")  # its manifest proves the folder is the batch's
    assert rerun.returncode == 0, rerun.stderr
    page = (out / "report.html").read_text()  # this rerun's page: both cores skipped, none converted
    assert page != report and cards(page)["Skipped"] == "2" and cards(page)["Converted"] == "0"


def test_the_ledger_keeps_only_claims_that_hold_when_compacted(tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept.txt", tmp_path / "gone.txt"
    for n in range(100):  # a manifest rewritten after every folder, run after run
        write_text_atomically(kept, "x" * n, durable=False)
        write_text_atomically(gone, "y" * n, durable=False)
    gone.unlink()
    compact_ledger(tmp_path)
    lines = (tmp_path / LEDGER_NAME).read_text().splitlines()
    assert [json.loads(line)[0] for line in lines] == ["kept.txt"] and written_by_batch(kept)


def test_a_write_stopped_before_its_rename_leaves_the_old_file_the_batchs(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim made before the rename (files.PENDING) is an extra one: a writer stopped between
    it and the rename (the temporary file gone, the old file in place) leaves the old file the
    batch's, and compacting keeps the claim that holds.  Guards the claim replacing the old one."""
    import CoreBatchLoaderLib.files as files

    ours = tmp_path / "ours.txt"
    write_text_atomically(ours, "old", durable=False)

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", stopped)
        with pytest.raises(KeyboardInterrupt):
            write_text_atomically(ours, "a new and longer text", durable=False)
    assert ours.read_text() == "old" and written_by_batch(ours)
    assert any(json.loads(line)[3:] == [files.PENDING] for line in (tmp_path / LEDGER_NAME).read_text().splitlines())
    for n in range(100):  # a long ledger, then compacted
        write_text_atomically(tmp_path / "other.txt", "y" * n, durable=False)
    compact_ledger(tmp_path)
    assert written_by_batch(ours) and written_by_batch(tmp_path / "other.txt")
    ours.write_text("changed by someone")
    assert not written_by_batch(ours)


def test_someone_elses_well_log_csv_is_kept_named_exit_1_and_the_las_still_written(tmp_path: Path) -> None:
    """A foreign ``well_ct_log.csv`` blocks that file alone: the LAS and SVG are still written, the
    file is named and the exit status is 1 (mutation: ``write_well_log`` letting the refusal fall
    into its catch-all — the whole log became one warning, no LAS, exit 0)."""
    pytest.importorskip("lasio")
    write_well(tmp_path / "well", cores=2, slices=6, signed=False, bits_stored=12, intercept=-1024.0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "well_ct_log.csv").write_text(FOREIGN)
    run = cli("convert", tmp_path / "well", out, "--quiet", "--start-depth", "1000", "--core-length", "0.01")
    assert run.returncode == 1, run.stderr
    assert "well_ct_log.csv exists and was not written by this batch" in run.stderr
    assert (out / "well_ct_log.csv").read_text() == FOREIGN
    assert (out / "well_ct_log.las").is_file() and (out / "well_ct_log.svg").is_file()
