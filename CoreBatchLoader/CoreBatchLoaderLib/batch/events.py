"""The batch's progress as JSON lines: what ``corebatchloader convert --progress json`` prints,
one object per line, and what the Slicer module reads back from that child process.

Both ends use this module, so the format has one definition.  Every line is a JSON object with an
``"event"``:

- ``"folder"`` after each core folder: ``folders_done``, ``folders_total``, ``cores_done``,
  ``failed``, ``bytes_done``, ``elapsed`` (seconds) and ``records`` (the folder's core records,
  the keys of ``manifest.json``);
- ``"stage"`` when a step after the last folder starts (they run for seconds after the folders
  reach 100 %): ``stage`` ("well", "planes", "report") and ``message``, a line for people;
- ``"end"`` once, last: ``exit_code`` (the command's exit status), ``cancelled``, ``stopped``,
  ``folders``, ``manifest``, ``report``, ``scene``, ``unwrap_strip``, ``well_log`` (the CT log's
  ``las``, ``table``, ``track``, ``warnings``), ``well_error``, ``unplaced`` (converted cores
  without a depth: "core: why, what to write in the depth table") and ``warnings`` (about the
  batch, not one core: cores scanned with other kVp or kernels, …);
- ``"error"`` instead when the batch cannot start: ``message``, ``exit_code`` 2.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..record import CoreRecord
from .run import BatchResult, Progress

FOLDER, STAGE, END, ERROR = "folder", "stage", "end", "error"


def folder_event(progress: Progress) -> Dict[str, Any]:
    return {"event": FOLDER, "folders_done": progress.folders_done, "folders_total": progress.folders_total,
            "cores_done": progress.cores_done, "failed": progress.failed, "bytes_done": progress.bytes_done,
            "elapsed": round(progress.elapsed, 3), "records": [r.to_json() for r in progress.records]}


def stage_event(stage: str, message: str) -> Dict[str, Any]:
    return {"event": STAGE, "stage": stage, "message": message}


def end_event(result: BatchResult, exit_code: int) -> Dict[str, Any]:
    well = result.well
    return {"event": END, "exit_code": exit_code, "cancelled": result.cancelled, "stopped": result.stopped,
            "folders": result.folders, "manifest": _text(result.manifest), "report": _text(result.report),
            "scene": _text(well.scene) if well is not None else None,
            "unwrap_strip": _text(well.unwrap_strip) if well is not None else None,
            "well_log": _log_json(well.log) if well is not None else None,
            "well_error": well.error if well is not None else None,
            "unplaced": list(well.unplaced) if well is not None else [], "warnings": list(result.warnings)}


def interrupted_event(exit_code: int) -> Dict[str, Any]:
    """The batch was stopped (Ctrl-C, SIGTERM, SIGHUP) before it could say more."""
    return {"event": END, "exit_code": exit_code, "cancelled": True}


def error_event(message: str) -> Dict[str, Any]:
    return {"event": ERROR, "message": message, "exit_code": 2}


def line(event: Dict[str, Any]) -> str:
    """One event as one line of ASCII (JSON escapes newlines and every other character), so no
    console code page (Windows) can garble it on the way to the reader."""
    return json.dumps(event, separators=(",", ":"))


def parse(text: str) -> Dict[str, Any]:
    """One line back into an event; ValueError when the line is not one of ours."""
    event = json.loads(text)
    if not isinstance(event, dict) or event.get("event") not in (FOLDER, STAGE, END, ERROR):
        raise ValueError("not a corebatchloader progress line: %r" % text[:200])
    return event


def progress_of(event: Dict[str, Any]) -> Progress:
    """A ``"folder"`` event as the :class:`Progress` an in-process batch gives its callback."""
    return Progress(event["folders_done"], event["folders_total"], event["cores_done"], event["failed"],
                    event["bytes_done"], [CoreRecord.from_json(r) for r in event["records"]], event["elapsed"])


def result_of(end: Optional[Dict[str, Any]], records: List[CoreRecord], cancelled: bool = False) -> BatchResult:
    """The :class:`BatchResult` of a batch that ran in a child process: its ``"end"`` event (None
    when the child was stopped before it could say) and the manifest's records."""
    from ..well.ct_log import WellLogFiles
    from .well_steps import WellResult

    end = end or {}
    well = None
    if any(end.get(key) for key in ("scene", "well_error", "unwrap_strip", "well_log", "unplaced")):
        log = end.get("well_log")
        well = WellResult(scene=_path(end.get("scene")), error=end.get("well_error"),
                          unwrap_strip=_path(end.get("unwrap_strip")), unplaced=list(end.get("unplaced") or []),
                          log=None if log is None else WellLogFiles(_path(log["las"]), _path(log["table"]),
                                                                    _path(log["track"]), list(log["warnings"])))
    return BatchResult(records=records, cancelled=bool(end.get("cancelled", cancelled)), stopped=end.get("stopped"),
                       folders=int(end.get("folders", 0)), manifest=_path(end.get("manifest")),
                       report=_path(end.get("report")), well=well, warnings=list(end.get("warnings") or []))


def _log_json(log: Any) -> Optional[Dict[str, Any]]:
    """The well's CT log files (``well.ct_log.WellLogFiles``) as JSON."""
    if log is None:
        return None
    return {"las": _text(log.las), "table": _text(log.table), "track": _text(log.track), "warnings": list(log.warnings)}


def _text(path: Optional[Path]) -> Optional[str]:
    return None if path is None else str(path)


def _path(text: Optional[str]) -> Optional[Path]:
    return None if not text else Path(text)
