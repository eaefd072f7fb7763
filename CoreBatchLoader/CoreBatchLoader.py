"""CoreBatchLoader: the 3D Slicer module — panel, console logic and self-test — over CoreBatchLoaderLib.

Every core folder of DICOM slices under an input folder becomes one NRRD volume in an output
folder, with ``manifest.json`` describing each core.  Two routes give the same files:

- ``fast`` — the CoreBatchLoaderLib engine (copies the pixel bytes), run as a child process
  ``PythonSlicer`` running ``corebatchloader convert … --progress json`` from this folder's copy
  of the engine (never a process pool in Slicer's own process; ``CoreBatchLoaderLib.slicer_process``):
  the panel polls it and stays usable, Cancel stops it at once;
- ``dicomlib`` — Slicer's own DICOM reader (DICOMLib and its scalar volume plugin) per core,
  saved with ``slicer.util.saveNode``: the reference the fast route is checked against.  It must
  run in Slicer's process: one core at a time, events processed between cores.

This file holds only what needs Slicer's application, Qt or DICOMLib; the panel's sections and
GUI helpers are in ``CoreBatchLoaderWidgets``, the work in ``CoreBatchLoaderLib`` (the MRML side
of "add to scene" in ``CoreBatchLoaderLib.mrml.cores``).  Slicer imports this file at start-up:
the engine (numpy, pydicom) is imported only when a batch runs.  GUI strings go through
``slicer.i18n.tr``.  Python 3.9 syntax (Slicer 5.4–5.8 embed Python 3.9).
"""
import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Dict, List, Optional

import qt
import slicer
import vtk
from CoreBatchLoaderLib.defaults import DEFAULT_CURVE, DEFAULT_MAX_SHIFT_M, DEFAULT_RADIUS_TEXT, DEFAULT_WORKERS
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderWidgets.about import acknowledgementText, helpText
from CoreBatchLoaderWidgets.binding import GuiBinding
from CoreBatchLoaderWidgets.binding import isSet as _isSet
from CoreBatchLoaderWidgets.depth_match import DepthMatchLogic, DepthMatchSection
from CoreBatchLoaderWidgets.installs import offerDecoder, offerLasio
from CoreBatchLoaderWidgets.planes import PlanesSection
from CoreBatchLoaderWidgets.results import ResultsSection
from CoreBatchLoaderWidgets.sample_data import registerSampleData
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

if TYPE_CHECKING:  # the engine is imported when a batch starts, not with this file
    from CoreBatchLoaderLib.batch.run import BatchOptions
    from CoreBatchLoaderLib.mrml.cores import BatchSceneAdder
ROUTES = ("fast", "dicomlib")
# The scalar volume plugin's settings used for a batch (the user's values are restored after):
# Slicer's default reader, and irregular slice geometry regularized by a transform we harden.
DICOM_SETTINGS = {
    "DICOM/ScalarVolume/ReaderApproach": "GDCM with DCMTK fallback",  # stored as its index
    "DICOM/ScalarVolume/AcquisitionGeometryRegularization": "transform",
}


#
# CoreBatchLoader
#


class CoreBatchLoader(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Core Batch Loader")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Informatics")]
        self.parent.dependencies = ["DICOM"]
        self.parent.contributors = ["CoreBatchLoader developers"]
        self.parent.helpText = helpText()  # CoreBatchLoaderWidgets/about.py
        self.parent.acknowledgementText = acknowledgementText()
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# CoreBatchLoaderParameterNode
#


@parameterNodeWrapper
class CoreBatchLoaderParameterNode:
    """The panel's settings, saved with the scene (each bound to its widget in the .ui file)."""

    inputDir: Path  # the folder holding the core folders
    outputDir: Path  # where the NRRD files and manifest.json go
    route: Annotated[str, Choice(list(ROUTES))] = "fast"  # the engine, or Slicer's DICOM reader
    compress: bool = False  # gzip the NRRD data (smaller, several times slower)
    workers: Annotated[int, WithinRange(1, 64)] = DEFAULT_WORKERS  # the fast route's worker processes
    overwrite: bool = False  # convert again cores that are already done
    addToScene: bool = False  # load the converted cores into the scene
    depthFile: Path  # core depth table: cores placed at their depth, a well scene built
    sceneMemoryGB: Annotated[float, WithinRange(0.0, 4096.0)] = 0.0  # the well's voxels in the scene (0: RAM/4)
    unwrap: bool = True  # lay each core's outer surface flat while converting
    unwrapRadius: str = DEFAULT_RADIUS_TEXT  # where: a fraction of the core's radius ("0.9") or "30mm"
    coreRange: bool = False  # take coreMinHU…coreMaxHU as the core's CT numbers (else decided per core)
    coreMinHU: Annotated[float, WithinRange(-3024.0, 65535.0)] = -500.0  # matter at or above: core (--core-min-hu)
    coreMaxHU: Annotated[float, WithinRange(-3024.0, 65535.0)] = 4000.0  # matter above: not core (--core-max-hu)
    planes: bool = False  # pick each core's beds and fractures from its unwrap after converting
    depthMatchLasFile: Path  # the wireline logs (LAS) the depth match reads
    depthMatchCurve: str = DEFAULT_CURVE  # the curve the cores' CT log is matched to (RHOB, GR…)
    depthMatchMaxShift: Annotated[float, WithinRange(0.05, 20.0)] = DEFAULT_MAX_SHIFT_M  # metres either way
    depthMatchCalibrationFile: Path  # scanned standards (CSV: density, hu); empty: fitted from the logs


#
# CoreBatchLoaderWidget
#


class CoreBatchLoaderWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: binds the .ui to the parameter node, runs the logic, shows its results."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._gui = GuiBinding()  # the MRML node the widgets are connected to, once per node
        self._running = False  # from Start until the batch (and its rerun) ended: Start does nothing
        self._cancelRequested = False  # the dicomlib route stops after the current core
        self._batch = None  # the fast route's child process (ChildBatch) while it runs
        self._pollTimer = None
        self._offered = set()  # packages offered for install this session, whatever the answer
        self._rerunning = None  # the cores converted again after the decoder's install

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CoreBatchLoader.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CoreBatchLoaderLogic()
        self.results = ResultsSection(self.ui, self.logic)
        self.planes = PlanesSection(self.ui, self.logic)
        self.depthMatch = DepthMatchSection(self.ui, self.logic, lambda: self._parameterNode)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.startButton.connect("clicked(bool)", self.onStartButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.progressBar.setValue(0)
        self._pollTimer = qt.QTimer()
        self._pollTimer.setInterval(200)  # ms: the child's lines are read between Qt events
        self._pollTimer.connect("timeout()", self._onPollTimer)
        self.initializeParameterNode()

    def cleanup(self):
        self._cancelRequested = True
        if self._batch is not None:  # Slicer closes or the module reloads: the batch must not run on
            self._batch.cancel()
        if self._pollTimer is not None:
            self._pollTimer.stop()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        # As Slicer's template: no GUI updates while another module is shown.  GuiBinding
        # disconnects only where connectGui gave a tag (5.10+); on 5.4–5.8 the connection stays.
        self._gui.release()
        self._unobserve()

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode):
        """Observe ``inputParameterNode`` (a new wrapper each call); connect the widgets to its
        MRML node unless they already are (the singleton survives scene closes: GuiBinding)."""
        self._unobserve()
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets carry the dynamic property "SlicerParameterName" in the .ui file.
            wrapper = self._parameterNode
            self._gui.bind(wrapper.parameterNode, lambda: wrapper.connectGui(self.ui), wrapper.disconnectGui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._updateButtons()

    def _unobserve(self):  # once: removing an observation twice warns (VTKObservationMixin)
        if self._parameterNode and self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons):
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def _updateButtons(self, caller=None, event=None):
        ready = bool(self._parameterNode and _isSet(self._parameterNode.inputDir)
                     and _isSet(self._parameterNode.outputDir))
        self.ui.startButton.enabled = ready and not self._running
        self.ui.startButton.toolTip = (_("Convert every core under the input folder") if ready
                                       else _("Choose the input and output folders first"))
        self.ui.cancelButton.enabled = self._running
        for section in (self.ui.inputsCollapsibleButton, self.ui.optionsCollapsibleButton,
                        self.ui.depthCollapsibleButton, self.ui.depthMatchCollapsibleButton,
                        self.ui.planesCollapsibleButton):
            section.enabled = not self._running

    def onStartButton(self):
        # Running (and Start disabled) before anything that processes events — an install offer,
        # pip_install — so a second click cannot start a second batch.
        if self._running or not self._parameterNode:
            return
        self._running, self._cancelRequested, self._rerunning = True, False, None
        self._updateButtons()
        p = self._parameterNode
        self.results.clear(Path(p.outputDir))
        self.ui.progressBar.setValue(0)
        self.ui.statusLabel.text = _("Looking for core folders…")
        if _isSet(p.depthFile):
            offerLasio(self.logic, self._offered)
        slicer.app.processEvents()
        self._start(p.overwrite, p.addToScene)

    def _start(self, overwrite: bool, addToScene: bool):
        """Run the batch with the panel's settings: the fast route's child polled by the timer,
        the dicomlib route here."""
        p = self._parameterNode
        arguments = dict(addToScene=addToScene, compress=p.compress, workers=p.workers, overwrite=overwrite,
                         depthFile=p.depthFile, sceneMemoryGB=p.sceneMemoryGB,
                         unwrapRadius=p.unwrapRadius if p.unwrap else None,
                         coreMinHU=p.coreMinHU if p.coreRange else None, coreMaxHU=p.coreMaxHU if p.coreRange else None,
                         planes=p.planes)
        if p.route == "fast":  # a child process: the timer reads its progress, the panel stays live
            self._batch = self._guarded(lambda: self.logic.startConvert(p.inputDir, p.outputDir, **arguments))
            if self._batch is not None:
                self._pollTimer.start()
            return
        records = self._guarded(lambda: self.logic.convert(p.inputDir, p.outputDir, route=p.route,
                                                           progressCallback=self._onProgress, **arguments))
        self._finished(records)

    def _onPollTimer(self):
        """The fast route's child: show the folders it finished; at its end, the summary."""
        batch = self._batch
        if batch is None:
            self._pollTimer.stop()
            return
        ended = batch.done  # read before the last poll (as Logic.convert does), so no line is left behind
        for progress in batch.poll():
            if self._rerunning is not None:  # the rerun after the decoder's install: just its cores
                progress = dataclasses.replace(progress, records=[r for r in progress.records
                                                                  if r.name in self._rerunning])
            self.logic.onFolder(progress)
            self._onProgress(progress)
        if batch.stage and not ended:  # the well, the report: seconds after the last folder
            self.ui.statusLabel.text = batch.stage
        if ended:
            self._pollTimer.stop()
            self._batch = None
            records = self._guarded(lambda: self.logic.finishConvert(batch))
            if records is None or not self._rerunAfterDecoderInstall():
                self._finished(records)

    def _rerunAfterDecoderInstall(self) -> bool:
        """Cores failed for lack of a decoder: offer it, naming them; once installed, convert just
        those again (the rerun skips the converted cores).  True when the rerun started."""
        missing = self.logic.coresMissingADecoder()
        if self._rerunning is not None or self._cancelRequested \
                or not offerDecoder(self.logic, missing, self._offered) or self._cancelRequested:
            return False  # a rerun's failures, a cancelled batch, no such cores, a "no", a cancel while installing
        self._rerunning = {core for cores in missing.values() for core in cores}
        self.ui.statusLabel.text = _("Converting again with the decoder: {cores}").format(
            cores=", ".join(sorted(self._rerunning)))
        p, shown = self._parameterNode, dict(self.logic.nodeIDs)
        # Its cores join the scene as the others did; a placed well (depths) is not loaded twice.
        self._start(overwrite=False, addToScene=p.addToScene and not _isSet(p.depthFile))
        self.logic.nodeIDs.update({name: node for name, node in shown.items() if name not in self.logic.nodeIDs})
        return self._batch is not None

    def _guarded(self, run):
        """``run()``, or None after showing why the batch could not start or stopped by an error."""
        from CoreBatchLoaderLib.batch.run import UsageError

        try:
            return run()
        except UsageError as exc:
            self.ui.statusLabel.text = _("Not started: {error}").format(error=exc)
            slicer.util.errorDisplay(_("The batch cannot start:\n{error}").format(error=exc))
        except Exception as exc:  # a bug: show it, keep the panel usable
            logging.exception("CoreBatchLoader failed")
            self.ui.statusLabel.text = _("Stopped by an error: {error}").format(error=exc)
            slicer.util.errorDisplay(_("CoreBatchLoader stopped by an error:\n{error}").format(error=exc))
        self._running = False
        self._updateButtons()
        return None

    def _finished(self, records):
        self._running = False
        self._updateButtons()
        if records is None:
            return
        self.planes.show(Path(self._parameterNode.outputDir)) if self._parameterNode.planes else self.planes.clear()
        counts = {s: sum(r.status == s for r in records) for s in ("converted", "skipped", "failed")}
        ended = _(" (cancelled)") if self.logic.cancelled else _(" (stopped)") if self.logic.stopped else ""
        self.ui.statusLabel.text = _("{converted} converted, {skipped} skipped, {failed} failed{ended} — {path}").format(
            ended=ended, path=self.logic.reportPath or self.logic.manifestPath, **counts)
        if self.logic.logChartID:  # the well's CT log in Slicer's plot view
            slicer.modules.plots.logic().ShowChartInLayout(slicer.mrmlScene.GetNodeByID(self.logic.logChartID))
        if self.logic.stopped:
            slicer.util.errorDisplay(_("The batch stopped:\n{reason}").format(reason=self.logic.stopped))
        elif not records and not self.logic.cancelled:
            self.ui.statusLabel.text = _("No DICOM image series found under {folder}").format(
                folder=self._parameterNode.inputDir)

    def onCancelButton(self):
        self.ui.cancelButton.enabled = False
        self._cancelRequested = True
        if self._batch is not None:  # the fast route: its process stops now, mid-folder
            self._batch.cancel()
            self.ui.statusLabel.text = _("Cancelling: stopping the batch process…")
        else:  # the dicomlib route runs in this process: it stops after the current core
            self.ui.statusLabel.text = _("Cancelling after the current core…")

    def _onProgress(self, progress) -> bool:
        """Called after each core folder (a ``Progress``): show it, keep the panel alive, say
        whether to stop."""
        for record in progress.records:
            self.results.show(record)
        self.ui.progressBar.maximum = max(progress.folders_total, 1)
        self.ui.progressBar.value = progress.folders_done
        names = ", ".join(r.name for r in progress.records)
        self.ui.progressBar.format = "%v / %m " + _("folders") + " — " + names
        from CoreBatchLoaderLib.messages import human_bytes, throughput_text  # the bar's and the report's figure

        self.ui.statusLabel.text = _("Done: {names} ({cores} cores, {size}, {rate}, {failed} failed)").format(
            names=names, cores=progress.cores_done, size=human_bytes(progress.bytes_done),
            rate=throughput_text(progress.bytes_done, progress.elapsed), failed=progress.failed)
        if self._batch is None:  # the dicomlib route, in this process (the fast route's timer must not re-enter)
            slicer.app.processEvents()
        return self._cancelRequested


#
# CoreBatchLoaderLogic
#


class CoreBatchLoaderLogic(ScriptedLoadableModuleLogic, DepthMatchLogic):
    """The batch, callable from the Python console without the panel.

    After :meth:`convert` (or :meth:`finishConvert`): ``cancelled``, ``stopped`` (why the batch
    stopped early: the output disk filled up; None otherwise), ``manifestPath``, ``reportPath``
    (report.html, None when cancelled), ``nodeIDs`` (core name → node ID of the cores added to the
    scene), ``lasPath`` (the well's CT log, well_ct_log.las, after a batch with depths) and
    ``logChartID`` (its plot chart in the scene) describe the run; :meth:`unwrapFiles` lists the
    unwrapped surfaces it wrote, :meth:`coresMissingADecoder` the cores no installed package could decode.
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        self.cancelled = False
        self.stopped: Optional[str] = None
        self.manifestPath: Optional[Path] = None
        self.reportPath: Optional[Path] = None
        self.nodeIDs: Dict[str, str] = {}
        self.result = None  # the last batch's BatchResult
        self.lasPath: Optional[Path] = None
        self.logChartID: Optional[str] = None
        self._run: Optional[_Run] = None

    def getParameterNode(self):
        return CoreBatchLoaderParameterNode(super().getParameterNode())

    def convert(self, inputDir, outputDir, route="fast", addToScene=False, progressCallback=None,
                compress=False, workers=DEFAULT_WORKERS, overwrite=False, depthFile=None, sceneMemoryGB=0.0,
                wellName=None, sceneOptions=None, unwrapRadius="0.9", coreMinHU=None,
                coreMaxHU=None, planes=False) -> List[CoreRecord]:
        """Convert every core under ``inputDir`` into ``outputDir``; returns the manifest's records.

        The fast route runs the batch as a child process (``PythonSlicer`` running
        ``corebatchloader convert …`` from this module's copy of the engine, ``workers`` its worker
        processes) and waits for it, processing Slicer's events; the dicomlib route runs here, one
        core at a time.
        ``progressCallback(progress)`` gets a :class:`CoreBatchLoaderLib.batch.run.Progress` after
        each core folder; returning True cancels the batch: the fast route's process is stopped at
        once, the dicomlib route after the current core.
        With ``depthFile`` the cores are placed at their depth and the well scene is written;
        ``addToScene`` then loads the whole well (proxies beyond ``sceneMemoryGB``; 0: a quarter of
        RAM); ``sceneOptions`` replaces the three (``slicer_process.panel_options``).
        ``unwrapRadius``: "0.9" (of the core's radius), "30mm", None (no unwrap), see :meth:`unwrapFiles`.
        ``coreMinHU`` / ``coreMaxHU``: the CT numbers taken as core (None: decided per core from what
        surrounds it; ``--core-min-hu`` / ``--core-max-hu``); ``planes``: pick each core's beds and fractures.
        Raises ``UsageError`` when the folders, depths or core range are unusable; ``self.result`` is the
        ``BatchResult``.
        """
        from CoreBatchLoaderLib.batch.run import UsageError

        if route not in ROUTES:
            raise UsageError("route must be one of %s, not %r" % (", ".join(ROUTES), route))
        arguments = dict(addToScene=addToScene, compress=compress, workers=workers, overwrite=overwrite,
                         depthFile=depthFile, sceneMemoryGB=sceneMemoryGB, wellName=wellName,
                         sceneOptions=sceneOptions, unwrapRadius=unwrapRadius, coreMinHU=coreMinHU,
                         coreMaxHU=coreMaxHU, planes=planes)
        if route == "fast":
            batch = self.startConvert(inputDir, outputDir, **arguments)
            try:
                while True:
                    ended = batch.done  # read before the last poll, so no line is left behind
                    for progress in batch.poll(timeout=0.0 if ended else 0.05):
                        self.onFolder(progress)
                        if progressCallback is not None and progressCallback(progress):
                            batch.cancel()
                    if ended:
                        break
                    slicer.app.processEvents()
            finally:
                batch.cancel()  # a callback's error must not leave the batch running (no-op once it ended)
            return self.finishConvert(batch)
        run = self._begin(inputDir, outputDir, **arguments)
        run.options = dataclasses.replace(run.options, workers=1)
        return self._finish(self._convertWithDicomLib(run, progressCallback))

    def startConvert(self, inputDir, outputDir, addToScene=False, compress=False, workers=DEFAULT_WORKERS,
                     overwrite=False, depthFile=None, sceneMemoryGB=0.0, wellName=None, sceneOptions=None,
                     unwrapRadius=DEFAULT_RADIUS_TEXT, coreMinHU=None, coreMaxHU=None, planes=False):
        """Start the fast route's batch in its child process and return it (a ``ChildBatch``), for
        the caller to poll (``batch.poll()`` → :meth:`onFolder` for each progress; when
        ``batch.done``, :meth:`finishConvert`) — the panel does so from a timer.  Arguments as :meth:`convert`."""
        from CoreBatchLoaderLib.batch.run import UsageError
        from CoreBatchLoaderLib.slicer_process import BatchProcessError, ChildBatch

        run = self._begin(inputDir, outputDir, addToScene, compress, workers, overwrite, depthFile, sceneMemoryGB,
                          wellName, sceneOptions, unwrapRadius, coreMinHU, coreMaxHU, planes)
        try:
            return ChildBatch.start(run.inputDir, run.outputDir, run.options)
        except BatchProcessError as exc:  # no PythonSlicer: say so, as a batch that cannot start
            raise UsageError(str(exc)) from None

    def installPackage(self, requirement: str) -> None:
        """Install ``requirement`` into Slicer's Python (the decoder python-gdcm, or lasio): the
        panel asks the user first; from the console, calling this is the consent.  Slicer 5.12+
        installs through ``slicer.packaging.pip_ensure`` (its progress dialog, and its advice to
        restart when an imported package changed); earlier releases through ``slicer.util.pip_install``."""
        try:
            import slicer.packaging as packaging
        except ImportError:  # Slicer 5.4–5.10
            slicer.util.pip_install(requirement)
            return
        packaging.pip_ensure([requirement], prompt_install=False, requester=_("Core Batch Loader"))

    def coresMissingADecoder(self) -> Dict[str, List[str]]:
        """Transfer syntax UID → the last batch's cores that failed because no installed package
        decodes their slices (what :meth:`installPackage` of ``DECODER_REQUIREMENT`` fixes; a rerun
        then converts just those, the others being done)."""
        from CoreBatchLoaderLib.slicer_process import cores_missing_a_decoder

        return cores_missing_a_decoder(self.result.records) if self.result is not None else {}

    def onFolder(self, progress) -> None:
        """A core folder finished (a ``Progress``): without depths, its cores join the scene now (``addToScene``)."""
        if self._run is not None and self._run.adder is not None:
            self._run.adder.add(progress.records)

    def finishConvert(self, batch) -> List[CoreRecord]:
        """Wait for the child process (``ChildBatch``); the manifest's records (with depths and
        ``addToScene``, the placed well joins the scene)."""
        return self._finish(batch.result())

    def _begin(self, inputDir, outputDir, addToScene=False, compress=False, workers=DEFAULT_WORKERS,
               overwrite=False, depthFile=None, sceneMemoryGB=0.0, wellName=None, sceneOptions=None,
               unwrapRadius=DEFAULT_RADIUS_TEXT, coreMinHU=None, coreMaxHU=None, planes=False) -> "_Run":
        from CoreBatchLoaderLib.mrml import cores as mrml_scene
        from CoreBatchLoaderLib.slicer_process import panel_options

        self.cancelled, self.manifestPath, self.reportPath, self.nodeIDs = False, None, None, {}
        self.stopped, self.result, self.lasPath, self.logChartID = None, None, None, None
        options = panel_options(compress, workers, overwrite, depthFile if _isSet(depthFile) else None,
                                sceneMemoryGB, wellName, sceneOptions, unwrapRadius, coreMinHU, coreMaxHU, planes)
        scene, outputDir = options.scene, Path(outputDir).resolve()
        # Without depths, cores join the scene one by one as they finish; with depths, the placed well at the end.
        adder = mrml_scene.BatchSceneAdder(slicer.mrmlScene, outputDir, self.nodeIDs) if addToScene and not scene.has_depths else None
        self._run = _Run(Path(inputDir), outputDir, options, adder, addToScene and scene.has_depths,
                         scene.well(Path(inputDir).name))
        return self._run

    def _finish(self, result) -> List[CoreRecord]:
        run, self._run = self._run, None
        self.result = result
        self.cancelled, self.manifestPath, self.reportPath = result.cancelled, result.manifest, result.report
        self.stopped = result.stopped
        if run is not None and run.addWell and not result.cancelled and result.well is not None \
                and not result.well.error:
            self._addWell(run.outputDir)
        if run is not None:
            from CoreBatchLoaderLib.mrml.ct_log import add_well_log
            self.lasPath, self.logChartID = add_well_log(slicer.mrmlScene, result.well, run.wellName)
        return result.records

    def unwrapFiles(self) -> Dict[str, Path]:
        """The last batch's unwrapped surfaces (:meth:`BatchResult.unwrap_files`)."""
        return self.result.unwrap_files() if self.result is not None else {}

    def _addWell(self, outputDir: Path) -> None:
        """The placed well (cores at their depth, proxies, overview) into the live scene."""
        from CoreBatchLoaderLib.mrml import well as well_scene
        from CoreBatchLoaderLib.well import layout as well_layout
        nodes = well_scene.add_well(slicer.mrmlScene, outputDir, well_layout.read_layout(outputDir), load_data=True)
        self.nodeIDs.update(nodes.cores)
        self.nodeIDs.update({"%s unwrap" % name: node for name, node in nodes.unwraps.items()})

    # The DICOMLib route: Slicer's DICOM reader per core inside the engine's batch (discovery,
    # names, resuming, lock, manifest, report and well scene are shared with the fast route).

    def _convertWithDicomLib(self, run: "_Run", progressCallback):
        from CoreBatchLoaderLib.batch.run import UsageError, run_batch
        from CoreBatchLoaderLib.mrml.dicomlib import DicomLibConverter
        from DICOMLib import DICOMUtils

        if "DICOMScalarVolumePlugin" not in getattr(slicer.modules, "dicomPlugins", {}):
            raise UsageError("Slicer's DICOM module (DICOMScalarVolumePlugin) is not loaded")

        def onFolder(progress) -> bool:
            self.onFolder(progress)
            return bool(progressCallback(progress)) if progressCallback else False

        # A database of this run's own: two runs at once (two headless Slicers) must not wipe each
        # other's index, which a fixed folder under temporaryPath would (initializeDatabase).
        databaseDir = tempfile.mkdtemp(prefix="CoreBatchLoaderDICOM-", dir=slicer.app.temporaryPath)
        settings = _dicomReaderSettings()
        try:
            settings.apply()
            with DICOMUtils.TemporaryDICOMDatabase(databaseDir) as database:
                converter = DicomLibConverter(DICOMUtils, database, slicer.mrmlScene, run.adder)
                return run_batch(run.inputDir, run.outputDir, run.options, progress=onFolder, converter=converter)
        finally:
            settings.restore()  # the user's reader settings, whatever happened
            shutil.rmtree(databaseDir, ignore_errors=True)


@dataclasses.dataclass
class _Run:
    """One batch from its start to its end (the fast route's child runs in between)."""

    inputDir: Path
    outputDir: Path
    options: "BatchOptions"
    adder: "Optional[BatchSceneAdder]"
    addWell: bool  # with depths and add to scene: load the placed well at the end
    wellName: str  # the well's CT log chart is named after it


def _dicomReaderSettings():
    """The scalar volume plugin's reader settings for a batch (``TemporarySettings``); restore()
    gives the user's back."""
    import DICOMScalarVolumePlugin
    from CoreBatchLoaderLib.mrml.dicomlib import TemporarySettings

    approaches = DICOMScalarVolumePlugin.DICOMScalarVolumePluginClass.readerApproaches()
    return TemporarySettings(qt.QSettings(), {key: approaches.index(value) if key.endswith("ReaderApproach") else value
                                              for key, value in DICOM_SETTINGS.items()})


#
# CoreBatchLoaderTest
#


class CoreBatchLoaderTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: a synthetic well through both routes, compared voxel for voxel."""

    def setUp(self):
        slicer.mrmlScene.Clear()
        self.tempDir = Path(tempfile.mkdtemp(prefix="CoreBatchLoaderTest-"))

    def tearDown(self):
        shutil.rmtree(str(self.tempDir), ignore_errors=True)

    def runTest(self):
        for test in (self.test_both_routes_write_the_same_volumes,
                     self.test_add_to_scene_puts_every_core_in_the_batch_folder,
                     self.test_a_depth_file_places_every_core_at_its_depth_in_the_scene,
                     self.test_cancel_stops_the_batch_and_keeps_what_finished,
                     self.test_the_sample_well_opens_the_module_ready_to_convert):
            self.setUp()
            try:
                test()
            finally:
                self.tearDown()

    def _well(self, cores: int = 3) -> Path:
        from CoreBatchLoaderLib.synthetic import write_well
        well = self.tempDir / "well"
        # Unsigned 12-bit with an intercept, as many CT scanners write: values need the Modality LUT.
        write_well(well, cores=cores, slices=9, signed=False, bits_stored=12, intercept=-1024.0)
        return well

    def test_both_routes_write_the_same_volumes(self):
        self.delayDisplay("Converting a synthetic well by both routes")
        well = self._well()
        logic = CoreBatchLoaderLogic()
        fast = logic.convert(well, self.tempDir / "fast", route="fast")
        dicom = logic.convert(well, self.tempDir / "dicomlib", route="dicomlib")
        self.assertEqual([r.name for r in fast], ["core_001", "core_002", "core_003"])
        self.assertEqual([r.name for r in dicom], [r.name for r in fast])
        from CoreBatchLoaderLib.mrml import cores as mrml_scene

        for f, d in zip(fast, dicom):
            self.assertEqual((f.status, d.status), ("converted", "converted"), d.error or f.error)
            self.assertEqual((f.route, d.route), ("fast", "dicomlib"))
            self.assertEqual(f.output, d.output)
            fastNode = mrml_scene.load_volume(slicer.mrmlScene, self.tempDir / "fast" / f.output)
            dicomNode = mrml_scene.load_volume(slicer.mrmlScene, self.tempDir / "dicomlib" / d.output)
            fastVoxels = slicer.util.arrayFromVolume(fastNode)
            dicomVoxels = slicer.util.arrayFromVolume(dicomNode)
            self.assertEqual(fastVoxels.shape, dicomVoxels.shape)
            self.assertTrue((fastVoxels.astype("float64") == dicomVoxels.astype("float64")).all(),
                            "%s: voxels differ between the routes" % f.name)
            for row in range(4):
                for column in range(4):
                    self.assertAlmostEqual(_ijkToRas(fastNode).GetElement(row, column),
                                           _ijkToRas(dicomNode).GetElement(row, column), places=6)
            self.assertEqual(f.dimensions, d.dimensions)
        for folder in ("fast", "dicomlib"):
            for name in ("manifest.json", "report.html"):
                self.assertTrue((self.tempDir / folder / name).is_file(), "%s/%s" % (folder, name))
        self.delayDisplay("Both routes agree")

    def test_add_to_scene_puts_every_core_in_the_batch_folder(self):
        well = self._well(cores=2)
        for route in ROUTES:
            slicer.mrmlScene.Clear()
            logic = CoreBatchLoaderLogic()
            records = logic.convert(well, self.tempDir / route, route=route, addToScene=True)
            names = [r.name for r in records]
            self.assertEqual(sorted(logic.nodeIDs), sorted(names))
            shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
            for name, nodeID in logic.nodeIDs.items():
                node = slicer.mrmlScene.GetNodeByID(nodeID)
                self.assertIsNotNone(node, "%s (%s) is not in the scene" % (name, route))
                self.assertEqual(node.GetName(), name)
                folder = shNode.GetItemParent(shNode.GetItemByDataNode(node))
                self.assertEqual(shNode.GetItemName(folder), route)
            volumes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            self.assertEqual(len(volumes), len(names), "%s left extra volumes in the scene" % route)

    def test_a_depth_file_places_every_core_at_its_depth_in_the_scene(self):
        well = self._well(cores=3)
        depthFile = self.tempDir / "depths.txt"
        tops = (2450.0, 2451.0, 2452.5)
        depthFile.write_text("".join("%g %g\n" % (top, top + 0.009) for top in tops))  # 9 slices of 1 mm
        for route in ROUTES:
            slicer.mrmlScene.Clear()
            logic = CoreBatchLoaderLogic()
            logic.convert(well, self.tempDir / route, route=route, addToScene=True, depthFile=depthFile)
            self.assertTrue((self.tempDir / route / "scene.mrml").is_file(), route)
            cores = sorted(n for n in logic.nodeIDs if not n.endswith(" unwrap"))  # the fast route adds unwraps
            self.assertEqual(cores, ["core_001", "core_002", "core_003"])
            if route == "fast":  # the CT log is measured by the fast route: its plot is in the scene
                self.assertIsNotNone(slicer.mrmlScene.GetNodeByID(logic.logChartID or ""), "CT log chart")
            for top, name in zip(tops, cores):
                node = slicer.mrmlScene.GetNodeByID(logic.nodeIDs[name])
                bounds = [0.0] * 6
                node.GetRASBounds(bounds)
                self.assertAlmostEqual(bounds[5], -1000.0 * top, delta=0.51, msg="%s top (%s)" % (name, route))

    def test_cancel_stops_the_batch_and_keeps_what_finished(self):
        well = self._well()
        # dicomlib runs here and stops after the current core.
        records = CoreBatchLoaderLogic().convert(well, self.tempDir / "dicomlib", route="dicomlib",
                                                 progressCallback=lambda progress: True)
        self.assertEqual([r.name for r in records], ["core_001"])
        # fast: its process is stopped at once; the folders it finished meanwhile are in the manifest.
        logic = CoreBatchLoaderLogic()
        records = logic.convert(well, self.tempDir / "fast", route="fast", progressCallback=lambda progress: True)
        names = [r.name for r in records]
        self.assertEqual(names, ["core_001", "core_002", "core_003"][:len(names)])
        self.assertTrue(logic.cancelled or len(names) == 3, names)
        self.assertEqual({r.status for r in records}, {"converted"})
        written = sorted(p.name for p in (self.tempDir / "fast").iterdir() if p.suffix == ".nrrd")
        self.assertEqual(written, sorted(r.output for r in records))  # nothing half-written left behind


    def test_the_sample_well_opens_the_module_ready_to_convert(self):
        from CoreBatchLoaderWidgets.sample_data import makeSampleWell
        well = makeSampleWell(self.tempDir / "SampleWell")  # what Sample Data's button calls
        if slicer.util.mainWindow():
            self.assertEqual(slicer.util.selectedModule(), "CoreBatchLoader")
        p = CoreBatchLoaderLogic().getParameterNode()
        self.assertEqual((Path(p.inputDir), Path(p.depthFile)), (well, well / "depths.csv"))
        records = CoreBatchLoaderLogic().convert(p.inputDir, p.outputDir, depthFile=p.depthFile)
        self.assertEqual([(r.name, r.status) for r in records], [("core_%03d" % n, "converted") for n in (1, 2, 3, 4)])

def _ijkToRas(node):
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return matrix
