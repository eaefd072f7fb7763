"""The Slicer module's panel (issue 23): what can run without Slicer runs, the rest is read.

Run for real: the GUI's binding to its parameter node on slicer-core's MRML scene (the singleton
parameter node across scene closes), the batch records the decoder offer is made from, the
sample well, the cost of importing what the module file imports.  Read with ``ast`` (Slicer's
application, Qt and its dialogs are not installable here, and no stand-in module is used): the
order of what Start does, where the offers and installs are, translatable strings.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest
from conftest import ROOT, convert_tree, require_module
from CoreBatchLoaderLib.dicom.pixel_reader import DECODER_REQUIREMENT
from CoreBatchLoaderLib.slicer_process import cores_missing_a_decoder
from CoreBatchLoaderLib.synthetic import write_core_series, write_sample_well, write_well
from CoreBatchLoaderLib.well.layout import read_layout
from CoreBatchLoaderLib.well.options import SceneOptions
from CoreBatchLoaderWidgets.binding import GuiBinding
from test_slicer_module_static import MODULE_DIR, MODULE_FILE, WIDGETS_DIR, calls_in, method, panel_files

REQUIREMENTS = MODULE_DIR / "Resources" / "requirements.txt"


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def function(path: Path, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(tree(path)) if isinstance(n, ast.FunctionDef) and n.name == name)


def first_line_calling(node: ast.AST, name: str) -> int:
    lines = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Call) and name in calls_in(n)]
    assert lines, "no call to %s" % name
    return min(lines)


# --- 2: one GUI connection per parameter node, on slicer-core's real scene ----------------------

slicer = require_module("slicer", "slicer-core")


def parameter_node(scene) -> object:
    """The module's parameter node as ScriptedLoadableModuleLogic.getParameterNode finds or makes
    it (Slicer/Slicer: Base/Python/slicer/ScriptedLoadableModule.py): a singleton tagged with the
    module's name."""
    node = scene.GetSingletonNode("CoreBatchLoader", "vtkMRMLScriptedModuleNode")
    if node:
        return node
    node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
    node.UnRegister(None)
    node.SetSingletonTag("CoreBatchLoader")
    node.SetAttribute("ModuleName", "CoreBatchLoader")
    return scene.AddNode(node)


@pytest.mark.parametrize("release", ["5.4-5.8", "5.10+"])
def test_the_gui_is_connected_once_per_parameter_node_across_scene_closes_and_module_switches(release: str) -> None:
    scene = slicer.vtkMRMLScene()
    live: Dict[int, object] = {}  # tag (or a count on 5.4–5.8, where connectGui returns None) → node
    log: List[str] = []
    binding = GuiBinding()

    def widget_binds(node) -> None:  # CoreBatchLoaderWidget.setParameterNode's call
        def connect() -> Optional[int]:
            tag = len(log)
            live[tag] = node
            log.append("connect %s" % node.GetID())
            return tag if release == "5.10+" else None

        def disconnect(tag: int) -> None:
            log.append("disconnect %s" % live.pop(tag).GetID())

        binding.bind(node, connect, disconnect)

    # As the widget: enter() binds; the scene's StartClose unbinds nothing (setParameterNode(None));
    # its EndClose binds the module's node again (onSceneEndClose → initializeParameterNode).
    scene.AddObserver(scene.EndCloseEvent, lambda caller, event: widget_binds(parameter_node(scene)))
    widget_binds(parameter_node(scene))
    first = parameter_node(scene)
    for _ in range(5):
        scene.Clear(0)  # File → Close Scene: the singleton survives
        assert parameter_node(scene) is first
    assert log == ["connect %s" % first.GetID()]
    for _ in range(3):  # another module shown, then this one again: exit() then enter()
        binding.release()
        widget_binds(parameter_node(scene))
    if release == "5.4-5.8":  # nothing can be disconnected there: connected once, and left so
        assert log == ["connect %s" % first.GetID()] and binding.tag is None
    else:  # as Slicer's template: disconnected on exit, connected on enter, never two at once
        assert log == ["connect %s" % first.GetID()] + ["disconnect %s" % first.GetID(),
                                                        "connect %s" % first.GetID()] * 3
    assert len(live) == 1 or release == "5.4-5.8"
    scene.Clear(1)  # singletons removed too: the next node is another one, connected once
    widget_binds(parameter_node(scene))
    assert parameter_node(scene) is not first and log[-1] == "connect %s" % parameter_node(scene).GetID()
    assert sum(line.startswith("connect") for line in log) == (2 if release == "5.4-5.8" else 5)


def test_the_widget_connects_only_through_the_binding_and_releases_it_on_exit() -> None:
    widget = ast.unparse(next(n for n in tree(MODULE_FILE).body
                              if isinstance(n, ast.ClassDef) and n.name == "CoreBatchLoaderWidget"))
    assert widget.count("connectGui(") == 1 and widget.count("disconnectGui") == 1  # the bind() call's two
    bind = ast.unparse(method("CoreBatchLoaderWidget", "setParameterNode"))
    assert "self._gui.bind(wrapper.parameterNode, lambda: wrapper.connectGui(self.ui), wrapper.disconnectGui)" in bind
    assert "self._gui.release()" in ast.unparse(method("CoreBatchLoaderWidget", "exit"))
    assert "self.setParameterNode(None)" in ast.unparse(method("CoreBatchLoaderWidget", "onSceneStartClose"))


# --- 3: Start runs one batch --------------------------------------------------------------------

def test_start_sets_the_running_state_and_disables_itself_before_anything_that_processes_events() -> None:
    start = method("CoreBatchLoaderWidget", "onStartButton")
    guard = start.body[0]
    assert isinstance(guard, ast.If) and "self._running" in ast.unparse(guard.test)
    assert isinstance(guard.body[-1], ast.Return)  # a second click (an offer or pip_install running) does nothing
    running = min(n.lineno for n in ast.walk(start) if isinstance(n, ast.Assign)
                  and "self._running" in ast.unparse(n.targets[0]) and "True" in ast.unparse(n.value))
    disabled = first_line_calling(start, "_updateButtons")
    for later in ("offerLasio", "processEvents", "_start"):
        assert running <= disabled < first_line_calling(start, later), later
    buttons = ast.unparse(method("CoreBatchLoaderWidget", "_updateButtons"))
    assert "self.ui.startButton.enabled = ready and (not self._running)" in buttons
    # The decoder's offer and the rerun come while the batch still counts as running.
    rerun = method("CoreBatchLoaderWidget", "_rerunAfterDecoderInstall")
    assert "_finished" not in calls_in(rerun) and "self._running = False" not in ast.unparse(rerun)
    timer = method("CoreBatchLoaderWidget", "_onPollTimer")
    assert first_line_calling(timer, "_rerunAfterDecoderInstall") <= first_line_calling(timer, "_finished")


# --- 1: the decoder offered only for cores that failed for lack of one, then just those again ----

def test_no_decoder_is_offered_for_uncompressed_cores_nor_for_cores_that_failed_otherwise(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    write_core_series(tmp_path / "well" / "core_003", slices=4, duplicate=(1,))  # fails, not for a decoder
    write_core_series(tmp_path / "well" / "core_004", slices=4, transfer_syntax="1.2.840.10008.1.2.5")  # RLE
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    assert [r.status for r in result.records] == ["converted", "converted", "failed", "converted"]
    assert cores_missing_a_decoder(result.records) == {}


def test_the_decoder_is_offered_after_the_batch_naming_the_cores_and_then_just_those_run_again() -> None:
    start = ast.unparse(method("CoreBatchLoaderWidget", "onStartButton"))
    assert "offerDecoder" not in start and "DECODER" not in start  # nothing asked before a batch shows a need
    rerun = method("CoreBatchLoaderWidget", "_rerunAfterDecoderInstall")
    source = ast.unparse(rerun)
    assert "missing = self.logic.coresMissingADecoder()" in source
    assert "offerDecoder(self.logic, missing, self._offered)" in source
    assert first_line_calling(rerun, "offerDecoder") < first_line_calling(rerun, "_start")
    assert "self._start(overwrite=False, " in source  # a rerun: the converted cores are skipped, unread
    assert "addToScene=p.addToScene and (not _isSet(p.depthFile))" in source  # a placed well is not loaded twice
    assert "self._rerunning = " in source and "self.logic.nodeIDs.update(" in source
    # Only those cores reach the rows and the scene (the others come back "skipped").
    timer = ast.unparse(method("CoreBatchLoaderWidget", "_onPollTimer"))
    assert "records=[r for r in progress.records if r.name in self._rerunning]" in timer
    assert timer.index("r.name in self._rerunning") < timer.index("self.logic.onFolder(progress)")
    assert "cores_missing_a_decoder(self.result.records)" in ast.unparse(
        method("CoreBatchLoaderLogic", "coresMissingADecoder"))
    installs = WIDGETS_DIR / "installs.py"
    offer = function(installs, "offerDecoder")
    empty = offer.body[[isinstance(n, ast.If) for n in offer.body].index(True)]
    assert ast.unparse(empty.test) == "not missing" and isinstance(empty.body[0], ast.Return)
    assert "transfer_syntax_name(uid)" in ast.unparse(offer) and "first_few(sorted(cores)" in ast.unparse(offer)
    ask = function(installs, "_offer")
    no = next(n for n in ast.walk(ask) if isinstance(n, ast.If) and "confirmOkCancelDisplay" in calls_in(n.test))
    assert isinstance(no.body[-1], ast.Return) and first_line_calling(ask, "installPackage") > no.lineno


def test_packages_are_installed_only_by_the_logic_and_with_slicer_packaging_where_the_release_has_it() -> None:
    installers = [(path.name, n.name) for path in panel_files() for n in ast.walk(tree(path))
                  if isinstance(n, ast.FunctionDef) and {"pip_install", "pip_ensure"} & set(calls_in(n))]
    assert installers == [("CoreBatchLoader.py", "installPackage")]
    install = method("CoreBatchLoaderLogic", "installPackage")
    [attempt] = [n for n in install.body if isinstance(n, ast.Try)]
    assert ast.unparse(attempt.body) == "import slicer.packaging as packaging"
    assert ast.unparse(attempt.handlers[0].type) == "ImportError"  # Slicer 5.4–5.10
    assert "slicer.util.pip_install(requirement)" in ast.unparse(attempt.handlers[0].body)
    assert "packaging.pip_ensure([requirement], prompt_install=False" in ast.unparse(install)  # our dialog asked
    for path in panel_files():  # nothing installed, nothing offered, when Slicer imports the files
        top = [n for n in tree(path).body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not {"pip_install", "pip_ensure", "offerDecoder", "offerLasio"} & set(calls_in(ast.Module(top, []))), path


def test_the_requirements_file_pins_what_the_first_use_installs_install() -> None:
    from packaging.requirements import Requirement

    requirements = [Requirement(line) for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
                    if line.strip() and not line.startswith("#")]
    for python, gdcm in (("3.9", "python-gdcm<=3.2.2"), ("3.12", "python-gdcm")):
        wanted = {str(r).split(";")[0].strip() for r in requirements
                  if r.marker is None or r.marker.evaluate({"python_version": python})}
        assert wanted == {gdcm, "lasio"}, python
    running = "%d.%d" % sys.version_info[:2]
    assert DECODER_REQUIREMENT in {str(r).split(";")[0].strip() for r in requirements
                                   if r.marker is None or r.marker.evaluate({"python_version": running})}
    lasio = next(n for n in tree(WIDGETS_DIR / "installs.py").body if isinstance(n, ast.Assign)
                 and ast.unparse(n.targets[0]) == "LASIO_REQUIREMENT")
    assert ast.literal_eval(lasio.value) == "lasio"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for requirement in requirements:
        if requirement.name == "python-gdcm":  # the engine's dependency, pinned alike
            assert str(requirement).replace('"', "'") in pyproject.replace('"', "'")


# --- 5: translatable strings, the engine imported lazily ---------------------------------------

GUI_TEXT_CALLS = {"errorDisplay", "warningDisplay", "infoDisplay", "confirmOkCancelDisplay", "tryWithErrorDisplay",
                  "setHorizontalHeaderLabels"}
GUI_TEXT_ATTRIBUTES = {"text", "toolTip", "title", "helpText", "acknowledgementText", "format"}


def translated(node: ast.AST) -> bool:
    """``node`` is a literal given to ``_()`` (possibly ``.format``-ed), or holds no literal text."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
        return len(node.args) == 1 and isinstance(node.args[0], ast.Constant)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return translated(node.func.value)
    if isinstance(node, ast.Constant):
        return not isinstance(node.value, str) or not any(c.isalpha() for c in node.value.replace("%v", "")
                                                          .replace("%m", ""))
    return all(translated(child) for child in ast.iter_child_nodes(node))


def untranslated(path: Path) -> List[str]:
    found = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call) and calls_in(node)[0] in GUI_TEXT_CALLS and node.args:
            texts = node.args[:1] + [k.value for k in node.keywords if k.arg == "windowTitle"]
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in GUI_TEXT_ATTRIBUTES
                                                  for t in node.targets):
            texts = [node.value]
        else:
            continue
        found += ["%s:%d %s" % (path.name, t.lineno, ast.unparse(t)) for t in texts if not translated(t)]
    return found


def test_gui_strings_are_translatable_with_slicer_i18n() -> None:
    for path in panel_files():
        imports = [ast.unparse(n) for n in tree(path).body if isinstance(n, ast.ImportFrom)]
        if any("import slicer" in line or "from slicer" in line for line in imports) and path.name != "binding.py":
            assert "from slicer.i18n import tr as _" in imports, path
    assert untranslated(MODULE_FILE) == [] and [u for p in sorted(WIDGETS_DIR.glob("*.py")) for u in untranslated(p)] == []
    # The check can fail: a bare literal and a %-formatted one are caught.
    sample = ast.parse('slicer.util.errorDisplay("Could not load %s" % name)\nself.ui.statusLabel.text = "Done"')
    assert not translated(sample.body[0].value.args[0]) and not translated(sample.body[1].value)
    assert translated(ast.parse('_("Not started: {error}").format(error=exc)').body[0].value)


def engine_imports_at_load(path: Path, seen: Optional[Set[Path]] = None) -> List[str]:
    """The engine import statements Slicer runs when it loads ``path`` (the module file): its own
    top-level ones and those of the CoreBatchLoaderWidgets modules it imports at top level."""
    seen = set() if seen is None else seen
    seen.add(path)
    found = []
    for node in tree(path).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("CoreBatchLoaderLib"):
                found.append(ast.unparse(node))
            elif node.module.startswith("CoreBatchLoaderWidgets."):
                widget = WIDGETS_DIR / (node.module.split(".")[1] + ".py")
                if widget not in seen:
                    found += engine_imports_at_load(widget, seen)
        elif isinstance(node, ast.Import) and any(a.name.startswith("CoreBatchLoader") for a in node.names):
            found.append(ast.unparse(node))
    return found


def imported_modules(statements: List[str]) -> Set[str]:
    """What ``statements`` load, run in a fresh Python with only the module folder on the path."""
    code = "import sys; sys.path.insert(0, %r)\n%s\nprint(' '.join(sorted(sys.modules)))" % (
        str(MODULE_DIR), "\n".join(statements))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_slicer_loading_the_module_file_imports_neither_numpy_nor_pydicom() -> None:
    statements = engine_imports_at_load(MODULE_FILE)
    assert statements == [
        "from CoreBatchLoaderLib.defaults import DEFAULT_CURVE, DEFAULT_MAX_SHIFT_M, DEFAULT_RADIUS_TEXT, DEFAULT_WORKERS",
        "from CoreBatchLoaderLib.record import CoreRecord",
        "from CoreBatchLoaderLib.defaults import DEFAULT_CURVE, DEFAULT_MAX_SHIFT_M"]  # the depth match section's
    loaded = imported_modules(statements)
    assert "CoreBatchLoaderLib.defaults" in loaded and not {"numpy", "pydicom"} & loaded
    # The check can fail: what a batch imports loads numpy (pydicom is loaded when headers are read).
    assert "numpy" in imported_modules(["from CoreBatchLoaderLib.slicer_process import ChildBatch"])


# --- 7: a sample well in Sample Data, generated here -------------------------------------------

def test_the_sample_well_is_registered_with_sample_data_and_generated_not_downloaded() -> None:
    init = ast.unparse(method("CoreBatchLoader", "__init__"))
    assert "slicer.app.connect('startupCompleted()', registerSampleData)" in init  # as Slicer's template
    sample = WIDGETS_DIR / "sample_data.py"
    register = function(sample, "registerSampleData")
    [call] = [n for n in ast.walk(register) if isinstance(n, ast.Call) and calls_in(n)[0] ==
              "registerCustomSampleDataSource"]
    keywords = {k.arg: k.value for k in call.keywords}
    assert "makeSampleWell()" in ast.unparse(keywords["customDownloader"])
    assert not ast.unparse(keywords["uris"]).startswith(("'http", '"http')) and "checksums" not in keywords
    make = ast.unparse(function(sample, "makeSampleWell"))
    assert "write_sample_well(well, top_m=2450.0)" in make and "slicer.app.cachePath" in make
    assert "parameters.depthFile" in make and "slicer.util.selectModule('CoreBatchLoader')" in make
    assert (MODULE_DIR / "Resources" / "Icons" / "CoreBatchLoader.png").is_file()


def test_the_sample_well_converts_and_is_placed_at_the_depths_of_its_table(tmp_path: Path) -> None:
    well = tmp_path / "SampleWell" / "well"
    write_sample_well(well, cores=3, slices=40, size=48, top_m=2450.0)
    depths = well / "depths.csv"
    result = convert_tree(well, tmp_path / "converted", scene=SceneOptions(depths_file=depths, build_scene=True))
    assert [(r.name, r.status) for r in result.records] == [("core_001", "converted"), ("core_002", "converted"),
                                                            ("core_003", "converted")]  # the table is no core
    placed = read_layout(tmp_path / "converted").cores
    assert [(c.name, c.top_m, c.bottom_m) for c in placed] == [("core_001", 2450.0, 2450.04),
                                                               ("core_002", 2450.04, 2450.08),
                                                               ("core_003", 2450.08, 2450.12)]
