"""The Slicer module, checked without Slicer: what can be read from its files, and the headless entry.

Slicer's application, Qt and DICOMLib are not installable here, and no stand-in module is used:
these tests read CoreBatchLoader.py (with ``ast``), the Qt Designer file (as XML), the CMake lists
and the icons, and check that they fit together the way Slicer will use them.  The module's
behaviour inside Slicer is its own self-test (CoreBatchLoaderTest), run by ctest in Slicer.
The headless entry's fast route needs no Slicer and is run for real at the end.
"""
from __future__ import annotations

import ast
import json
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Set

import pytest
from conftest import ROOT
from CoreBatchLoaderLib import cli, slicer_batch
from CoreBatchLoaderLib.mrml import dicomlib
from CoreBatchLoaderLib.synthetic import write_core_series, write_well

MODULE_DIR = ROOT / "CoreBatchLoader"
MODULE_FILE = MODULE_DIR / "CoreBatchLoader.py"
LIB_DIR = MODULE_DIR / "CoreBatchLoaderLib"
WIDGETS_DIR = MODULE_DIR / "CoreBatchLoaderWidgets"  # the panel's sections: Slicer-side, beside the module file
UI_FILE = MODULE_DIR / "Resources" / "UI" / "CoreBatchLoader.ui"
MODULE_CMAKE = MODULE_DIR / "CMakeLists.txt"
SELF_TEST = ROOT / "Testing" / "Python" / "CoreBatchLoaderSelfTest.py"
SLICER_BATCH = LIB_DIR / "slicer_batch.py"

# Which widget classes Slicer's parameterNodeWrapper can bind to which parameter types
# (Slicer/Slicer: Base/Python/slicer/parameterNodeWrapper/guiConnectors.py).
CONNECTABLE = {
    "Path": {"ctkPathLineEdit", "ctkDirectoryButton"},
    "bool": {"QCheckBox", "QPushButton"},
    "int": {"QSpinBox", "QSlider"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget"},
    "str": {"QLineEdit", "QTextEdit"},
    "choice": {"QComboBox"},  # any stringable type annotated with Choice(...)
}
QT_WIDGETS = {"QWidget", "QLabel", "QComboBox", "QCheckBox", "QSpinBox", "QDoubleSpinBox", "QProgressBar",
              "QTableWidget", "QPushButton", "QLineEdit", "QTextEdit", "QSlider", "QGroupBox", "QFrame"}


def module_tree() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"), filename=str(MODULE_FILE))


def classes(tree: ast.Module) -> Dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def ui_root() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def ui_widgets() -> Dict[str, str]:
    """objectName → class of every widget in the .ui file."""
    return {w.get("name"): w.get("class") for w in ui_root().iter("widget")}


def ui_parameter_bindings() -> Dict[str, str]:
    """SlicerParameterName → class of the widget carrying it."""
    bindings = {}
    for widget in ui_root().iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                name = prop.findtext("string")
                assert name not in bindings, "parameter %s bound twice" % name
                bindings[name] = widget.get("class")
    return bindings


def wrapper_parameters() -> Dict[str, ast.expr]:
    """Parameter name → annotation of the @parameterNodeWrapper class."""
    wrapped = [c for c in classes(module_tree()).values()
               if any(isinstance(d, ast.Name) and d.id == "parameterNodeWrapper" for d in c.decorator_list)]
    assert len(wrapped) == 1, "expected one @parameterNodeWrapper class"
    return {s.target.id: s.annotation for s in wrapped[0].body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


def parameter_kind(annotation: ast.expr) -> str:
    """'choice' for Annotated[..., Choice(...)], else the (unannotated) type name."""
    if isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", None) == "Annotated":
        parts = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if any(isinstance(p, ast.Call) and getattr(p.func, "id", None) == "Choice" for p in parts[1:]):
            return "choice"
        return parameter_kind(parts[0])
    return ast.unparse(annotation).split(".")[-1]


def cmake_list(text: str, variable: str) -> List[str]:
    match = re.search(r"set\(%s\s+(.*?)\)" % variable, text, re.S)
    assert match, "%s not set in %s" % (variable, MODULE_CMAKE)
    return [item.replace("${MODULE_NAME}", "CoreBatchLoader") for item in match.group(1).split()]


def module_files() -> Set[str]:
    """Every script and resource under the module folder (relative paths), build litter excluded."""
    found = set()
    for path in MODULE_DIR.rglob("*"):
        if path.is_file() and (path.suffix in (".py", ".ui", ".png") or path.parent.name == "Resources") \
                and "__pycache__" not in path.parts \
                and not any(part.endswith(".egg-info") for part in path.parts):
            found.add(path.relative_to(MODULE_DIR).as_posix())
    return found


# --- the panel: .ui ↔ module code ↔ parameter node ---------------------------------------------

def panel_files() -> List[Path]:
    """The module file and its panel's sections (CoreBatchLoaderWidgets)."""
    return [MODULE_FILE] + sorted(WIDGETS_DIR.glob("*.py"))


def test_every_ui_widget_the_module_and_its_sections_use_exists_in_the_ui_file() -> None:
    for path in panel_files():
        used = {node.attr for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui"
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"}
        missing = used - set(ui_widgets())
        assert not missing, "%s: self.ui.%s not in %s" % (path.name, ", self.ui.".join(sorted(missing)), UI_FILE.name)
    assert "resultsTable" in ast.unparse(ast.parse((WIDGETS_DIR / "results.py").read_text(encoding="utf-8")))


def test_every_parameter_is_bound_to_exactly_one_widget_and_every_binding_is_a_parameter() -> None:
    bindings, parameters = ui_parameter_bindings(), wrapper_parameters()
    assert set(bindings) - set(parameters) == set(), "SlicerParameterName without a parameter"
    assert set(parameters) - set(bindings) == set(), "parameter without a widget"
    assert set(parameters) == {"inputDir", "outputDir", "route", "compress", "workers", "overwrite", "addToScene",
                               "depthFile", "sceneMemoryGB", "unwrap", "unwrapRadius", "coreRange", "coreMinHU",
                               "coreMaxHU", "depthMatchLasFile", "depthMatchCurve", "depthMatchMaxShift",
                               "depthMatchCalibrationFile", "planes"}


def test_each_bound_widget_is_one_slicer_can_connect_to_its_parameter_type() -> None:
    bindings = ui_parameter_bindings()
    for name, annotation in wrapper_parameters().items():
        kind = parameter_kind(annotation)
        assert bindings[name] in CONNECTABLE[kind], "%s (%s) is bound to a %s" % (name, kind, bindings[name])


def test_numbers_bound_to_spin_boxes_have_a_range() -> None:
    # Without WithinRange/Minimum/Maximum Slicer sets a spin box to the full int range.
    for name, annotation in wrapper_parameters().items():
        if parameter_kind(annotation) in ("int", "float"):
            assert "WithinRange(" in ast.unparse(annotation), "%s has no range" % name


def test_the_route_choices_are_the_two_routes() -> None:
    route = ast.unparse(wrapper_parameters()["route"])
    assert "Choice(list(ROUTES))" in route
    routes = [node for node in module_tree().body if isinstance(node, ast.Assign)
              and any(getattr(t, "id", None) == "ROUTES" for t in node.targets)]
    assert ast.literal_eval(routes[0].value) == ("fast", "dicomlib")


def test_the_ui_file_is_well_formed_with_unique_names_and_declared_custom_widgets() -> None:
    root = ui_root()
    names = [w.get("name") for w in root.iter("widget")]
    assert len(names) == len(set(names)), "duplicate objectName"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    for cls in {w.get("class") for w in root.iter("widget")}:
        assert cls in QT_WIDGETS or cls in declared, "%s is neither a Qt widget nor declared" % cls
    assert root.find("widget").get("class") == "qMRMLWidget"


def test_the_ui_has_the_widgets_the_issue_asks_for() -> None:
    classes_used = set(ui_widgets().values())
    assert {"ctkCollapsibleButton", "ctkPathLineEdit", "QComboBox", "QCheckBox", "QSpinBox", "QProgressBar",
            "QTableWidget", "QPushButton"} <= classes_used
    headers = [c.findtext("property/string") for c in ui_root().iter("column")]
    assert headers == ["Core", "Status", "Size (MB)", "Time (s)", "Message"]


# --- the module file --------------------------------------------------------------------------

def test_the_module_has_its_four_classes_and_the_test_is_a_scripted_module_test() -> None:
    found = classes(module_tree())
    bases = {name: [ast.unparse(b) for b in cls.bases] for name, cls in found.items()}
    assert bases["CoreBatchLoader"] == ["ScriptedLoadableModule"]
    assert bases["CoreBatchLoaderWidget"][0] == "ScriptedLoadableModuleWidget"
    # the logic, with the sections' console APIs as base classes of it (CoreBatchLoaderWidgets)
    assert bases["CoreBatchLoaderLogic"][0] == "ScriptedLoadableModuleLogic"
    assert all(base.endswith("Logic") for base in bases["CoreBatchLoaderLogic"][1:])
    assert bases["CoreBatchLoaderTest"] == ["ScriptedLoadableModuleTest"]
    tests = [f.name for f in found["CoreBatchLoaderTest"].body if isinstance(f, ast.FunctionDef)]
    assert "runTest" in tests and len([t for t in tests if t.startswith("test_")]) >= 2


def test_the_logic_convert_signature_is_the_console_api() -> None:
    logic = classes(module_tree())["CoreBatchLoaderLogic"]
    convert = next(f for f in logic.body if isinstance(f, ast.FunctionDef) and f.name == "convert")
    arguments = [a.arg for a in convert.args.args]
    defaults = dict(zip(arguments[-len(convert.args.defaults):],
                        (d.id if isinstance(d, ast.Name) else ast.literal_eval(d) for d in convert.args.defaults)))
    assert arguments == ["self", "inputDir", "outputDir", "route", "addToScene", "progressCallback", "compress",
                         "workers", "overwrite", "depthFile", "sceneMemoryGB", "wellName", "sceneOptions",
                         "unwrapRadius", "coreMinHU", "coreMaxHU", "planes"]
    assert defaults == {"route": "fast", "addToScene": False, "progressCallback": None, "compress": False,
                        "workers": "DEFAULT_WORKERS", "overwrite": False, "depthFile": None, "sceneMemoryGB": 0.0,
                        "wellName": None, "sceneOptions": None, "unwrapRadius": "0.9", "coreMinHU": None,
                        "coreMaxHU": None, "planes": False}


def test_the_module_help_links_the_documentation_of_its_own_copy() -> None:
    # docs/slicer.md beside a checkout, else the installed extension's recorded homepage: the
    # repository's address is written in CMakeLists.txt only (test_the_repository_address_is_set_once).
    about = (WIDGETS_DIR / "about.py").read_text(encoding="utf-8")
    assert '"docs" / "slicer.md"' in about and 'extensionMetadata(EXTENSION_NAME, METADATA_LOCAL).get("homepage")' in about
    assert 'EXTENSION_NAME = "CoreBatchLoader"' in about and "github.com" not in about
    assert "documentationLink()" in ast.unparse(next(n for n in ast.parse(about).body if isinstance(n, ast.FunctionDef)
                                                      and n.name == "helpText"))
    assert "self.parent.helpText = helpText()" in ast.unparse(method("CoreBatchLoader", "__init__"))
    assert "ORGANIZATION" not in MODULE_FILE.read_text(encoding="utf-8")


def test_the_readme_section_shows_every_way_in() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Using it in 3D Slicer" in readme
    assert "(docs/slicer.md)" in readme.split("## Using it in 3D Slicer", 1)[1].split("\n## ", 1)[0]
    section = (ROOT / "docs" / "slicer.md").read_text(encoding="utf-8")
    for needed in ("Additional module paths", "Extension Wizard", "Mock-up", "not a\nscreenshot",
                   "CoreBatchLoaderLogic()", "--no-main-window", "xvfb-run -a", "slicer_batch.py"):
        assert needed in section, needed


def all_python_files() -> List[Path]:
    files = [p for p in MODULE_DIR.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files + [SELF_TEST])


@pytest.mark.parametrize("path", all_python_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_and_library_file_parses_as_python_3_9(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
    postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                    any(a.name == "annotations" for a in n.names) for n in tree.body)
    if not postponed:  # "X | Y" in an evaluated annotation is a TypeError on Python 3.9
        for node in ast.walk(tree):
            annotations = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                annotations = [a.annotation for a in node.args.args + node.args.kwonlyargs] + [node.returns]
            elif isinstance(node, ast.AnnAssign):
                annotations = [node.annotation]
            for annotation in filter(None, annotations):
                assert not any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(annotation)), \
                    "%s:%d: X | Y annotation needs Python 3.10" % (path.name, annotation.lineno)


def top_level_imports(path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(LIB_DIR.rglob("*.py")), ids=lambda p: p.relative_to(LIB_DIR).as_posix())
def test_the_library_imports_no_slicer_qt_or_dicomlib_at_import_time(path: Path) -> None:
    assert not top_level_imports(path) & {"slicer", "vtk", "qt", "ctk", "DICOMLib", "CoreBatchLoader"}
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s+(qt|ctk|DICOMLib)\b", source, re.M), "Qt/DICOMLib belong in the module file"


# --- extension build --------------------------------------------------------------------------

def test_the_module_cmake_lists_every_script_and_resource_and_nothing_else() -> None:
    text = MODULE_CMAKE.read_text(encoding="utf-8")
    listed = cmake_list(text, "MODULE_PYTHON_SCRIPTS") + cmake_list(text, "MODULE_PYTHON_RESOURCES")
    assert len(listed) == len(set(listed)), "a file is listed twice"
    present = module_files()
    assert sorted(present - set(listed)) == [], "files missing from %s" % MODULE_CMAKE
    assert sorted(set(listed) - present) == [], "listed files that do not exist"
    assert re.search(r"slicerMacroBuildScriptedModule\(.*WITH_GENERIC_TESTS", text, re.S)


def test_the_self_test_is_registered_and_runs_the_module_test_class() -> None:
    text = MODULE_CMAKE.read_text(encoding="utf-8")
    match = re.search(r"slicer_add_python_unittest\(SCRIPT\s+(\S+)\)", text)
    assert match, "no slicer_add_python_unittest"
    script = Path(match.group(1).replace("${CMAKE_CURRENT_SOURCE_DIR}", str(MODULE_DIR))).resolve()
    assert script == SELF_TEST.resolve() and script.is_file()
    tree = ast.parse(script.read_text(encoding="utf-8"))
    assert any(isinstance(n, ast.ImportFrom) and n.module == "CoreBatchLoader" and
               any(a.name == "CoreBatchLoaderTest" for a in n.names) for n in tree.body)


def test_the_extension_cmake_has_the_metadata_and_builds_the_module() -> None:
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                     "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert re.search(r"set\(%s\s" % variable, text), variable
    order = ["find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(CoreBatchLoader)",
             "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)
    assert "Resources/CoreBatchLoader.png" in text


@pytest.mark.parametrize("icon", [MODULE_DIR / "Resources" / "Icons" / "CoreBatchLoader.png",
                                  ROOT / "Resources" / "CoreBatchLoader.png"], ids=["module", "extension"])
def test_the_icons_are_128_pixel_pngs(icon: Path) -> None:
    data = icon.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (128, 128)


# --- the headless entry, outside Slicer (its fast route needs no Slicer) ----------------------

def slicer_batch_run(*args: object, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SLICER_BATCH), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=str(cwd))


def option_strings(parser: object) -> Set[str]:
    return {s for action in parser._actions for s in action.option_strings} | \
        {action.dest for action in parser._actions if not action.option_strings}


def test_the_headless_entry_has_every_cli_convert_option_plus_route() -> None:
    convert = next(a for a in cli.build_parser()._actions if a.dest == "command").choices["convert"]
    assert option_strings(slicer_batch.build_parser()) == option_strings(convert) | {"--route"}


def test_the_headless_fast_route_converts_with_the_cli_exit_status_and_manifest(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=4)
    run = slicer_batch_run(tmp_path / "well", tmp_path / "out", "--quiet", "--workers", 2, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    cores = json.loads((tmp_path / "out" / "manifest.json").read_text())["cores"]
    assert [(c["name"], c["status"], c["route"]) for c in cores] == [("core_001", "converted", "fast"),
                                                                     ("core_002", "converted", "fast")]



def test_the_headless_fast_route_takes_folders_relative_to_where_it_was_started(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=4)
    run = slicer_batch_run("well", "out", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "core_001.nrrd").is_file()

@pytest.mark.parametrize("problem, status", [("failed_core", 1), ("missing_input", 2), ("bad_option", 2),
                                             ("dicomlib_outside_slicer", 2), ("dicomlib_on_dask", 2)])
def test_the_headless_entry_exits_with_the_cli_statuses(tmp_path: Path, problem: str, status: int) -> None:
    write_core_series(tmp_path / "well" / "good", slices=3)
    if problem == "failed_core":
        write_core_series(tmp_path / "well" / "bad", slices=3, duplicate=(1,))
    args = {"failed_core": (), "missing_input": (), "bad_option": ("--workers", "0"),
            "dicomlib_outside_slicer": ("--route", "dicomlib"),
            "dicomlib_on_dask": ("--route", "dicomlib", "--scheduler", "tcp://nowhere:8786")}[problem]
    source = tmp_path / ("nope" if problem == "missing_input" else "well")
    run = slicer_batch_run(source, tmp_path / "out", "--quiet", *args)
    assert run.returncode == status, run.stderr
    assert "Traceback" not in run.stderr


def test_slicer_5_4s_plugin_error_is_reported_as_the_plugin_failing_on_the_core() -> None:
    # The very statement Slicer 5.4's DICOMUtils.getLoadablesFromFileLists runs in its handler.
    try:
        exec('messages = ["x"]\nmessages.append("Plugin failed: %s." % pluginClass)', {})
    except NameError as exc:
        slicer_5_4_error = exc
    logged = ["DICOM Plugin failed: Unable to read pixel data of IM0003.dcm"]
    assert dicomlib.dicomlib_plugin_error(slicer_5_4_error, logged, "DICOMScalarVolumePlugin") == (
        "Slicer's DICOM plugin DICOMScalarVolumePlugin failed on this core: Unable to read pixel data of IM0003.dcm")
    assert "Slicer's log" in dicomlib.dicomlib_plugin_error(slicer_5_4_error, [], "DICOMScalarVolumePlugin")
    assert dicomlib.dicomlib_plugin_error(NameError("name 'x' is not defined"), logged, "P") is None


def method(class_name: str, name: str) -> ast.FunctionDef:
    return next(f for f in classes(module_tree())[class_name].body if isinstance(f, ast.FunctionDef) and f.name == name)


def calls_in(node: ast.AST) -> List[str]:
    return [n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for n in ast.walk(node) if isinstance(n, ast.Call)]


def test_the_dicomlib_route_has_a_private_database_removed_and_the_settings_restored_in_a_finally() -> None:
    route = method("CoreBatchLoaderLogic", "_convertWithDicomLib")
    source = ast.unparse(route)
    assert "tempfile.mkdtemp(" in source and "dir=slicer.app.temporaryPath" in source
    assert "TemporaryDICOMDatabase(databaseDir)" in source and "CoreBatchLoaderDICOMDatabase'" not in source
    [handler] = [n for n in ast.walk(route) if isinstance(n, ast.Try) and n.finalbody]
    cleanup = ast.unparse(handler.finalbody)
    assert "settings.restore()" in cleanup and "shutil.rmtree(databaseDir" in cleanup
    assert "settings.apply()" in ast.unparse(handler.body)


def test_the_fast_route_runs_the_batch_as_a_child_process_and_the_panel_polls_it() -> None:
    source = MODULE_FILE.read_text(encoding="utf-8")
    assert "multiprocessing" not in source and "python_for_workers" not in source
    assert "ChildBatch.start(" in ast.unparse(method("CoreBatchLoaderLogic", "startConvert"))
    assert "startConvert" in calls_in(method("CoreBatchLoaderWidget", "_start"))
    assert "_start" in calls_in(method("CoreBatchLoaderWidget", "onStartButton"))
    timer = ast.unparse(method("CoreBatchLoaderWidget", "_onPollTimer"))
    assert "batch.poll()" in timer and "finishConvert" in timer  # never a blocking wait in the GUI
    assert "self._batch.cancel()" in ast.unparse(method("CoreBatchLoaderWidget", "onCancelButton"))
    wait = ast.unparse(method("CoreBatchLoaderLogic", "convert"))
    assert "slicer.app.processEvents()" in wait and "batch.cancel()" in wait
    # The timer's slot must not process events itself: the timer would fire inside it again.
    for name in ("_onPollTimer", "_onProgress"):
        guarded = [n for n in ast.walk(method("CoreBatchLoaderWidget", name))
                   if isinstance(n, ast.If) and "self._batch is None" in ast.unparse(n.test)]
        unguarded = ast.unparse(method("CoreBatchLoaderWidget", name)).count("processEvents") - sum(
            ast.unparse(n).count("processEvents") for n in guarded)
        assert unguarded == 0, name


# --- ready for the Extensions Index (Slicer/ExtensionsIndex: scripts/check_description_files.py) ------

# Slicer/Slicer: Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json (additionalProperties: false)
ENTRY_REQUIRED = {"$schema", "category", "scm_url"}
ENTRY_ALLOWED = ENTRY_REQUIRED | {"scm_revision", "scm_type", "build_dependencies", "build_subdirectory", "enabled",
                                  "tier"}


def test_the_index_entry_follows_the_catalog_schema_and_names_this_extension() -> None:
    entry = json.loads((ROOT / "CoreBatchLoader.json").read_text(encoding="utf-8"))
    assert ENTRY_REQUIRED <= set(entry) <= ENTRY_ALLOWED
    assert entry["$schema"].endswith("/Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json#")
    assert entry["category"] == "Informatics" and entry["build_dependencies"] == [] and entry["scm_revision"]
    assert entry["scm_url"].startswith("https://")
    repository = entry["scm_url"].rstrip("/").split("/")[-1]
    assert "slicer" in repository.lower()  # the index's repository-name check
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r"^project\(CoreBatchLoader\)", cmake, re.M)  # = the entry's file name
    assert 'set(COREBATCHLOADER_REPOSITORY "%s")' % entry["scm_url"] in cmake


# How the index's checks read CMakeLists.txt (Slicer/ExtensionsIndex: scripts/check_description_files.py,
# check_cmakelists_content): these patterns, as written — no CMake variable is expanded there.
INDEX_ICON_URL = r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)"[ ]*\)'
INDEX_SCREENSHOT_URLS = r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)'


def repository_address() -> str:
    """The repository's address, set once: COREBATCHLOADER_REPOSITORY in CMakeLists.txt."""
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    [address] = re.findall(r'^set\(COREBATCHLOADER_REPOSITORY "([^"]+)"\)', cmake, re.M)
    return address


def test_the_extension_icon_and_screenshots_are_absolute_https_urls_of_pngs_in_this_repository() -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    icon = re.findall(INDEX_ICON_URL, cmake, re.I | re.M)[0].strip()
    screenshots = re.findall(INDEX_SCREENSHOT_URLS, cmake, re.I | re.M)[0].split()
    assert screenshots
    owner_repo = repository_address().split("github.com/", 1)[1]
    revision = json.loads((ROOT / "CoreBatchLoader.json").read_text(encoding="utf-8"))["scm_revision"]
    raw = "https://raw.githubusercontent.com/%s/%s/" % (owner_repo, revision)  # the file as GitHub serves it
    for url in [icon] + screenshots:
        assert url.startswith(raw), url  # absolute https, formed from the one address
        assert (ROOT / url[len(raw):]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url
    assert "${COREBATCHLOADER_REPOSITORY}" in re.search(r'set\(EXTENSION_HOMEPAGE "([^"]+)"\)', cmake).group(1)


def test_the_repository_address_is_set_once() -> None:
    """Written out only where it must be: CMakeLists.txt (its definition, and the URLs the index
    reads as written) and the index entry; the module and the docs link without it."""
    address = repository_address()
    assert address.startswith("https://github.com/") and address.rsplit("/", 1)[1].startswith("Slicer")
    owner_repo = address.split("github.com/", 1)[1]
    spelled = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & {".git", ".venv", "__pycache__", "build", "demo-output"} \
                and not any(p.endswith(".egg-info") for p in parts) and path.suffix not in (".png", ".nrrd", ".dcm"):
            if owner_repo in path.read_text(encoding="utf-8", errors="replace"):
                spelled.append(path.relative_to(ROOT).as_posix())
    assert sorted(spelled) == ["CMakeLists.txt", "CoreBatchLoader.json"]


def test_the_license_is_the_bsd_3_clause_the_package_declares() -> None:
    import tomllib
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"] == "BSD-3-Clause"
    assert license_text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in license_text
