"""The depth match in Slicer (issue 21 item 7), read without Slicer as docs/slicer.md's rules ask:
the console API on the logic, the panel section in its own class bound to the parameter node.
What runs without the GUI runs for real elsewhere: the engine (test_depth_match*.py) and the
shifts table and correlation plot on slicer-core's MRML (test_depth_match.py)."""
from __future__ import annotations

import ast

from test_slicer_module_static import MODULE_FILE, WIDGETS_DIR, calls_in, method, ui_parameter_bindings, ui_widgets
from test_slicer_panel import engine_imports_at_load, tree, untranslated

SECTION = WIDGETS_DIR / "depth_match.py"


def section_method(class_name: str, name: str) -> ast.FunctionDef:
    [found] = [f for c in tree(SECTION).body if isinstance(c, ast.ClassDef) and c.name == class_name
               for f in c.body if isinstance(f, ast.FunctionDef) and f.name == name]
    return found


def test_the_logic_returns_the_shifts_from_the_engines_depth_match_and_applies_them_by_converting() -> None:
    logic = next(c for c in ast.parse(MODULE_FILE.read_text(encoding="utf-8")).body
                 if isinstance(c, ast.ClassDef) and c.name == "CoreBatchLoaderLogic")
    assert "DepthMatchLogic" in [ast.unparse(b) for b in logic.bases]  # the console API is the logic's
    match = section_method("DepthMatchLogic", "depthMatch")
    assert [a.arg for a in match.args.args] == ["self", "outputDir", "lasFile", "curve", "maxShift",
                                                "calibrationFile", "addToScene", "wellName"]
    called = {name for node in ast.walk(match) if isinstance(node, ast.Call) for name in calls_in(node)}
    assert {"depth_match", "add_depth_match", "shift_rows"} <= called
    returned = [n for n in ast.walk(match) if isinstance(n, ast.Return)]
    assert [ast.unparse(r.value) for r in returned] == ["shift_rows(result.cores)"]
    apply = ast.unparse(section_method("DepthMatchLogic", "applyDepthMatch"))
    assert "self.convert(" in apply and "DEPTHS_NAME" in apply


def test_the_section_is_its_own_class_made_in_one_line_and_disabled_while_a_batch_runs() -> None:
    setup = ast.unparse(method("CoreBatchLoaderWidget", "setup"))
    assert "self.depthMatch = DepthMatchSection(self.ui, self.logic, lambda: self._parameterNode)" in setup
    assert "self.ui.depthMatchCollapsibleButton" in ast.unparse(method("CoreBatchLoaderWidget", "_updateButtons"))
    assert ui_widgets()["depthMatchCollapsibleButton"] == "ctkCollapsibleButton"
    assert {"depthMatchLasFile", "depthMatchCurve", "depthMatchMaxShift", "depthMatchCalibrationFile"} <= \
        set(ui_parameter_bindings())


def test_the_section_reads_the_parameter_node_never_a_widgets_value_and_leaves_the_work_to_the_logic() -> None:
    source = next(c for c in tree(SECTION).body if isinstance(c, ast.ClassDef) and c.name == "DepthMatchSection")
    for node in ast.walk(source):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui":
            assert node.attr.startswith("depthMatch"), node.attr  # its own widgets only
    reads = {ast.unparse(n) for n in ast.walk(source) if isinstance(n, ast.Attribute)
             and ast.unparse(n.value).startswith("self.ui.") and n.attr in ("currentPath", "value", "text")
             and not isinstance(getattr(n, "ctx", None), ast.Store)}
    assert reads == set(), "widget values read: %s" % reads
    calls = {name for n in ast.walk(source) if isinstance(n, ast.Call) for name in calls_in(n)}
    assert {"depthMatch", "applyDepthMatch"} <= calls and "depth_match" not in calls  # the logic does the work


def test_the_section_translates_its_strings_and_imports_no_engine_when_slicer_loads_it() -> None:
    assert untranslated(SECTION) == []
    assert engine_imports_at_load(SECTION) == ["from CoreBatchLoaderLib.defaults import DEFAULT_CURVE, DEFAULT_MAX_SHIFT_M"]
