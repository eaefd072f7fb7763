"""One core through Slicer's own DICOM reader (DICOMLib and its scalar volume plugin): the
``dicomlib`` route's converter, the reference the fast route is checked against.

Runs only inside the Slicer application (it must: DICOMLib and ``slicer.util.saveNode`` live
there), in Slicer's own process, one core at a time.  Importable without Slicer: DICOMUtils, the
database and the scene are passed in, ``slicer`` is imported inside the conversion.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..convert import ConvertOptions, core_record, output_file_name
from ..dicom.discover import CoreSeries
from ..files import temporary_path
from ..messages import one_line
from ..record import CoreRecord
from . import cores


class DicomLibConverter:
    """One core through DICOMLib: import → loadables → load → harden → save → clean up.

    Called by the engine's batch in place of its own converter (same signature).  ``DICOMUtils``
    (Slicer's DICOMLib module), the temporary ``database`` and ``scene`` (``self.scene``)
    come from the module; ``adder`` (or None) keeps the loaded volume in the scene
    (``adder.adopt(volume, record, path)``) instead of removing it.
    """

    def __init__(self, DICOMUtils: Any, database: Any, scene: Any, adder: Any = None) -> None:
        self.DICOMUtils = DICOMUtils
        self.database = database
        self.scene = scene
        self.adder = adder
        self._imported = set()

    def __call__(self, core: CoreSeries, outputDir: Path, options: ConvertOptions) -> CoreRecord:
        started = time.perf_counter()
        record = core_record(core, error=core.error, route="dicomlib")
        try:
            if not core.error:
                self._convert(core, outputDir, options, record)
        finally:
            record.seconds = round(time.perf_counter() - started, 3)
        return record

    def _convert(self, core: CoreSeries, outputDir: Path, options: ConvertOptions, record: CoreRecord) -> None:
        import slicer  # the application's slicer.util.saveNode: this route runs only inside Slicer

        DICOMUtils, database = self.DICOMUtils, self.database
        if core.folder not in self._imported:  # the indexer also enters subfolders; the lists below don't
            DICOMUtils.importDicom(core.folder, database)
            self._imported.add(core.folder)
        files = list(dict.fromkeys(Path(s.path).as_posix() for s in core.slices))  # frames share a file
        imported = [f for f in files if database.seriesForFile(f)]
        if not imported:
            record.error = "Slicer's DICOM database imported none of the %d files of this core" % len(files)
            return
        if len(imported) < len(files):
            record.warnings.append("Slicer's DICOM database did not import %d of the %d files; they were "
                                   "left out" % (len(files) - len(imported), len(files)))
        messages = ["CoreBatchLoader %s:" % core.name]  # non-empty, so plugin failures are appended
        logged = PluginFailureLog()
        try:
            with logged:
                loadablesByPlugin, _ = DICOMUtils.getLoadablesFromFileLists(
                    [imported], ["DICOMScalarVolumePlugin"], messages)
        except NameError as exc:  # Slicer 5.4 fails in its own error handler: say what failed
            record.error = dicomlib_plugin_error(exc, logged.messages, "DICOMScalarVolumePlugin")
            if record.error is None:
                raise
            return
        candidates = [(plugin, loadable) for plugin, loadables in loadablesByPlugin.items() for loadable in loadables]
        if not candidates:
            record.error = one_line("Slicer's scalar volume plugin found nothing to load. %s"
                                    % " ".join(messages[1:]), 500)
            return
        plugin, loadable = max(candidates, key=lambda c: (bool(c[1].selected), len(c[1].files), c[1].confidence))
        loadable.selected = True
        if getattr(loadable, "warning", ""):
            record.warnings.append("Slicer: %s" % one_line(loadable.warning, 500))
        loadMessages: List[str] = []
        nodeIDs = DICOMUtils.loadLoadables({plugin: [loadable]}, loadMessages)
        nodes = [n for n in (self.scene.GetNodeByID(i) for i in nodeIDs) if n is not None]
        kept = None
        target = outputDir / output_file_name(core.name)
        partial = temporary_path(target)
        partial = partial.with_name(partial.name + ".nrrd")  # Slicer picks its writer by the extension
        try:
            volumes = [n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode")]
            if len(volumes) != 1:
                record.error = one_line("Slicer's DICOM plugin loaded %d volumes. %s" % (
                    len(volumes), " ".join(loadMessages)), 500)
                return
            volume = volumes[0]
            if volume.GetParentTransformNode() is not None:
                volume.HardenTransform()
                record.warnings.append("irregular slice geometry: Slicer's regularization transform was "
                                       "hardened (voxels resampled)")
            cores.describe_volume(record, volume)
            if not slicer.util.saveNode(volume, str(partial), {"useCompression": 1 if options.compress else 0}) \
                    or not partial.is_file():
                record.error = "Slicer could not write %s (see the log)" % target.name
                return
            os.replace(str(partial), str(target))
            record.status, record.output, record.error = "converted", target.name, None
            if self.adder is not None:
                kept = volume
                self.adder.adopt(volume, record, target)
        finally:
            for node in nodes:
                if node is kept or not self.scene.IsNodePresent(node):
                    continue
                if node.IsA("vtkMRMLVolumeNode"):
                    cores.remove_volume(self.scene, node)
                else:
                    self.scene.RemoveNode(node)
            if partial.exists():
                partial.unlink()


class PluginFailureLog(logging.Handler):
    """While active, keeps what DICOMUtils logs as "DICOM Plugin failed: …" (the plugin's own
    error, which Slicer 5.4's message to the caller loses)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self, logging.ERROR)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Plugin failed" in message:
            self.messages.append(message)

    def __enter__(self) -> "PluginFailureLog":
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


class TemporarySettings:
    """Values put into an application's settings for one run (:meth:`apply`) and the previous ones
    back (:meth:`restore`, from a ``finally``): the DICOM reader settings are the user's, and
    persistent.  ``settings`` is Qt's ``QSettings`` (``contains``, ``value``, ``setValue``,
    ``remove``).  A Slicer killed in between keeps the run's values (the README says how to reset)."""

    def __init__(self, settings: Any, values: Dict[str, Any]) -> None:
        self.settings = settings
        self.values = values
        self._saved: Optional[Dict[str, Tuple[bool, Any]]] = None

    def apply(self) -> None:
        self._saved = {key: (bool(self.settings.contains(key)), self.settings.value(key)) for key in self.values}
        for key, value in self.values.items():
            self.settings.setValue(key, value)

    def restore(self) -> None:
        for key, (present, value) in (self._saved or {}).items():
            if present:
                self.settings.setValue(key, value)
            else:
                self.settings.remove(key)
        self._saved = None


def dicomlib_plugin_error(exc: BaseException, logged: Sequence[str], plugin: str) -> Optional[str]:
    """The core's error when Slicer's DICOM plugin failed on it and Slicer 5.4 lost the reason:
    there ``DICOMUtils.getLoadablesFromFileLists`` reports a plugin's failure with
    ``"Plugin failed: %s." % pluginClass``, an undefined name (fixed in 5.6), so the caller gets
    ``NameError: name 'pluginClass' is not defined``.  The plugin's own error is what DICOMUtils
    logged just before (``logged``: "DICOM Plugin failed: …" lines).  None for any other error
    (a real bug, to surface as such)."""
    if not isinstance(exc, NameError) or "pluginClass" not in str(exc):
        return None
    reasons = [m.split("Plugin failed:", 1)[1].strip() for m in logged if "Plugin failed:" in m]
    return one_line("Slicer's DICOM plugin %s failed on this core: %s" % (
        plugin, "; ".join(reasons) or "its error is in Slicer's log"), 500)
