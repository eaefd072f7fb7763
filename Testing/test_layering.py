"""The folders are the architecture (issue 14): every import runs down the stages, never back.

Read from the source with ``ast`` (no import runs), so a lazy import inside a function counts as
much as one at the top: a circle through a function is still a circle.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

from conftest import ROOT

LIB = ROOT / "CoreBatchLoader" / "CoreBatchLoaderLib"
MODULE_FILE = ROOT / "CoreBatchLoader" / "CoreBatchLoader.py"
# Lower stages first; a module may import its own stage or any stage above it in this list.
STAGES: Tuple[Tuple[str, ...], ...] = (
    ("synthetic",),                            # generated test data: imports nothing of the engine
    ("messages", "files", "defaults"),        # one-line messages, atomic files, the defaults the panel reads
    ("dicom", "nrrd"),                         # reading DICOM headers and pixels; writing/reading NRRD
    ("analysis",),                             # what is measured from a slice while converting
    ("record", "convert"),                     # one core: its record, its conversion
    ("planes",),                               # beds and fractures picked on the unwraps, their tables
    ("report",),                               # report.html, manifest.csv, pictures
    ("well",),                                 # depths, placement, proxies, overview, strip (no MRML)
    ("mrml",),                                 # Slicer's MRML (slicer-core or Slicer)
    ("batch",),                                # the batch run, manifest, the well's steps
    ("depth_match",),                          # cores on log depth: reads a finished batch's output
    ("cli", "commands"),                       # the corebatchloader command and its sub-commands
    ("slicer_process", "slicer_batch"),        # running from (or inside) Slicer
)
SLICER_ONLY = {"slicer", "qt", "ctk", "vtk", "slicer.util", "DICOMLib"}
SLICER_ALLOWED = {"mrml"}  # the only stage that may import Slicer's libraries (slicer-core outside Slicer)
MAX_LINES = 700


def stage_of(module: str) -> int:
    top = module.split(".")[1] if module.startswith("CoreBatchLoaderLib.") else module
    for rank, names in enumerate(STAGES):
        if top in names:
            return rank
    raise AssertionError("%s belongs to no stage: add it to STAGES" % module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Tuple[Set[str], Set[str]]:
    """(engine modules imported, other top-level modules imported) by the file at ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    engine, other = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (engine if alias.name.startswith("CoreBatchLoaderLib") else other).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("CoreBatchLoaderLib"):
                for alias in node.names:  # "from .pkg import module" names a module
                    candidate = target + "." + alias.name
                    engine.add(candidate if module_path(candidate) else target)
            else:
                other.add(target)
    engine.discard("CoreBatchLoaderLib")
    return engine, other


def module_path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    for candidate in (LIB / relative.with_suffix(".py"), LIB / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def engine_files() -> List[Path]:
    return sorted(LIB.rglob("*.py"))


def graph() -> Dict[str, Set[str]]:
    """Module → the engine modules it imports (and "CoreBatchLoader", the Slicer module file)."""
    edges = {}
    for path in engine_files():
        engine, other = imports_of(path)
        edges[module_name(path)] = {m for m in engine if module_path(m)} | ({"CoreBatchLoader"} & other)
    return edges


def test_every_import_runs_down_the_stages() -> None:
    wrong = []
    for module, targets in graph().items():
        if module == "CoreBatchLoaderLib":
            continue
        for target in targets - {"CoreBatchLoader"}:
            if target != "CoreBatchLoaderLib" and stage_of(target) > stage_of(module):
                wrong.append("%s imports %s" % (module, target))
    assert wrong == []


def test_no_import_circles() -> None:
    edges = graph()
    edges["CoreBatchLoader"] = {m for m in imports_of_module_file() if module_path(m)}
    state: Dict[str, int] = {}
    circles = []

    def visit(node: str, trail: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" → ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else nxt)
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


def imports_of_module_file() -> Set[str]:
    """The Slicer module imports the engine; the headless entry may import the module (lazily)."""
    tree = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("CoreBatchLoaderLib"):
            for alias in node.names:
                candidate = node.module + "." + alias.name
                found.add(candidate if module_path(candidate) else node.module)
    return found


def test_the_engine_imports_nothing_of_slicer_qt_ctk_or_vtk() -> None:
    offending = []
    for path in engine_files():
        module = module_name(path)
        if module.split(".")[1:2] and module.split(".")[1] in SLICER_ALLOWED:
            continue
        slicer_names = {m for m in imports_of(path)[1] if m.split(".")[0] in SLICER_ONLY}
        if slicer_names:
            offending.append("%s imports %s" % (module, ", ".join(sorted(slicer_names))))
    assert offending == []


def test_no_module_over_700_lines() -> None:
    long = ["%s: %d lines" % (p.relative_to(LIB), n) for p in engine_files() + [MODULE_FILE]
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > MAX_LINES]
    assert long == []


def test_the_checker_sees_a_backward_import(tmp_path: Path) -> None:
    """The rule can fail: a dicom module importing the batch would be reported."""
    assert stage_of("CoreBatchLoaderLib.batch.run") > stage_of("CoreBatchLoaderLib.dicom.headers")
    assert "CoreBatchLoaderLib.record" in imports_of(LIB / "convert.py")[0]
    assert "CoreBatchLoaderLib.mrml.well" in imports_of(LIB / "batch" / "well_steps.py")[0]
