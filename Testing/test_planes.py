"""Planes in every core (issue 22): beds and fractures picked as sinusoids on the unwraps, on a
well of phantoms whose planes are known (:mod:`CoreBatchLoaderLib.synthetic.plane_cores`): four
cores of 0.4 m at 0.5 mm, tilted 1–3° and lying on their liner's low side, one scanned bottom
first, twelve planes (dips 5°–70°, dense beds 3–6 mm of +300…+800 HU, open fractures ~1 mm, two
pairs crossing) and a core with only a dense nodule and a small vug, in textured rock.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from conftest import require, require_module
from CoreBatchLoaderLib.batch.run import BatchOptions, BatchResult, run_batch
from CoreBatchLoaderLib.cli import batch_options, build_parser, main
from CoreBatchLoaderLib.convert import ConvertOptions
from CoreBatchLoaderLib.planes.sinusoid import Sinusoid, column_angles
from CoreBatchLoaderLib.planes.tables import COLUMNS, PlaneRow, read_table
from CoreBatchLoaderLib.synthetic.plane_cores import PlaneCore, PlaneTruth, plane_well, write_plane_well
from CoreBatchLoaderLib.well.options import SceneOptions

TOP_M = 2000.0
CORE_M = 0.4
DEPTH_MM, DIP_DEG, AZIMUTH_DEG = 5.0, 3.0, 8.0  # the tolerances


def core_top_m(number: int) -> float:
    return TOP_M + number * CORE_M


@pytest.fixture(scope="module")
def well(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, BatchResult, List[Tuple[str, PlaneCore]]]:
    root = tmp_path_factory.mktemp("planes-well")
    cores = plane_well()
    write_plane_well(root / "in", cores)
    lines = ["core,top,bottom,flip"] + ["%s,%r,%r,%d" % (name, core_top_m(n), core_top_m(n) + CORE_M, core.flip)
                                        for n, (name, core) in enumerate(cores)]
    (root / "depths.csv").write_text("\n".join(lines) + "\n")
    options = BatchOptions(convert=ConvertOptions(durable=False), workers=1,
                           scene=SceneOptions(depths_file=root / "depths.csv", build_scene=True,
                                              memory_budget=10 ** 9, well_name="W-22"), planes=True)
    result = run_batch(root / "in", root / "out", options)
    assert result.exit_code == 0, [(r.name, r.error) for r in result.records]
    return root / "out", result, cores


def truths_in_metres(cores: List[Tuple[str, PlaneCore]]) -> List[Tuple[str, float, PlaneTruth]]:
    return [(name, core_top_m(n) + truth.depth_mm / 1000.0, truth) for n, (name, core) in enumerate(cores)
            for truth in core.planes]


def matches(rows: List[PlaneRow], cores: List[Tuple[str, PlaneCore]]) -> Tuple[Dict[int, PlaneRow], List[PlaneRow]]:
    """Each true plane's nearest pick in its core within the depth tolerance; the picks left over."""
    found: Dict[int, PlaneRow] = {}
    used = set()
    for n, (name, depth_m, _) in enumerate(truths_in_metres(cores)):
        near = [(abs(row.depth - depth_m), i) for i, row in enumerate(rows)
                if row.core == name and i not in used and abs(row.depth - depth_m) * 1000.0 <= DEPTH_MM]
        if near:
            i = min(near)[1]
            used.add(i)
            found[n] = rows[i]
    return found, [row for i, row in enumerate(rows) if i not in used]


def angle_difference(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def test_the_planes_are_found_at_their_depth_dip_and_azimuth(well) -> None:
    out, _, cores = well
    rows = read_table(out / "well_planes.csv")
    truths = truths_in_metres(cores)
    found, _ = matches(rows, cores)
    assert len(truths) >= 10 and len(found) >= 0.9 * len(truths), [t for n, t in enumerate(truths) if n not in found]
    for n, row in found.items():
        name, depth_m, truth = truths[n]
        assert abs(row.dip_deg - truth.dip_deg) <= DIP_DEG, (name, truth, row)
        if truth.dip_deg >= 10.0:
            assert angle_difference(row.azimuth_deg, truth.azimuth_deg) <= AZIMUTH_DEG, (name, truth, row)


def test_each_plane_is_of_its_kind_with_a_contrast_of_the_right_sign_and_size(well) -> None:
    out, _, cores = well
    rows = read_table(out / "well_planes.csv")
    truths = truths_in_metres(cores)
    found, _ = matches(rows, cores)
    for n, row in found.items():
        truth = truths[n][2]
        assert row.kind == truth.kind, (truth, row)
        assert 0.5 <= row.contrast_hu / truth.contrast_hu <= 1.5, (truth, row)
        assert 0.0 <= row.coverage <= 1.0 and 0.0 <= row.confidence <= 1.0
        assert row.confidence > 0.5  # the phantoms' planes are clear


def test_no_more_than_one_false_plane_a_metre_and_none_where_there_are_no_planes(well) -> None:
    out, _, cores = well
    rows = read_table(out / "well_planes.csv")
    _, false = matches(rows, cores)
    assert len(false) <= CORE_M * len(cores), false
    assert read_table(out / "planes" / "core_d.csv") == []  # a dense nodule and a vug only


def test_the_core_tables_say_metres_and_the_well_table_has_every_plane_by_depth(well) -> None:
    out, result, cores = well
    text = (out / "planes" / "core_a.csv").read_text().splitlines()
    assert text[0].split(",") == ["depth_m"] + list(COLUMNS)
    assert (out / "planes" / "core_d.csv").read_text().splitlines() == [text[0]]  # no plane: the header alone
    well_rows = read_table(out / "well_planes.csv")
    assert (out / "well_planes.csv").read_text().splitlines()[0].startswith("core,depth_m,")
    assert [r.depth for r in well_rows] == sorted(r.depth for r in well_rows)
    per_core = [row for name, _ in cores for row in read_table(out / "planes" / ("%s.csv" % name))]
    assert sorted((r.core, r.depth) for r in per_core) == sorted((r.core, r.depth) for r in well_rows)
    assert result.planes is not None and not result.planes.left_out


def test_the_command_picks_again_lists_cores_without_an_unwrap_and_picks_the_others(well, tmp_path: Path,
                                                                                   capsys) -> None:
    out, _, _ = well
    copy = tmp_path / "out"
    copy.mkdir()
    shutil.copytree(out / "unwrap", copy / "unwrap")
    manifest = json.loads((out / "manifest.json").read_text())
    for record in manifest["cores"]:
        if record["name"] == "core_b":
            record["unwrap"] = None  # as --no-unwrap leaves it
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "unwrap" / "core_c_unwrap.nrrd").unlink()
    assert main(["planes", str(copy), "--no-fsync"]) == 0
    err = capsys.readouterr().err
    assert "core_b: no unwrap" in err and "core_c: unwrap/core_c_unwrap.nrrd not found" in err
    assert {p.stem for p in (copy / "planes").glob("*.csv")} == {"core_a", "core_d"}
    assert {r.core for r in read_table(copy / "well_planes.csv")} == {"core_a"}
    assert read_table(copy / "planes" / "core_a.csv") == read_table(out / "planes" / "core_a.csv")
    (copy / "unwrap" / "core_d_unwrap.nrrd").write_bytes(b"NRRD0004\ntype: short\n")  # cut short
    assert main(["planes", str(copy), "--no-fsync"]) == 1
    assert "core_d: unwrap not read" in capsys.readouterr().err


def test_a_folder_that_is_not_a_batch_output_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["planes", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no manifest.json" in err[0] and str(tmp_path) in err[0]
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["planes", str(tmp_path)]) == 2
    assert "not a manifest" in capsys.readouterr().err


def test_convert_planes_option_asks_the_batch_for_the_planes_step(tmp_path: Path) -> None:
    args = build_parser().parse_args(["convert", str(tmp_path), str(tmp_path / "o"), "--planes"])
    assert batch_options(args).planes
    assert not batch_options(build_parser().parse_args(["convert", str(tmp_path), str(tmp_path / "o")])).planes


def test_the_sinusoid_is_deepest_at_the_dip_azimuth() -> None:
    """depth(θ) = d₀ + r·tan δ·cos(θ − ψ): deepest at θ = ψ (the README's old formula had −)."""
    sinusoid = Sinusoid.of_plane(100.0, 30.0, 250.0, 28.0)
    theta = column_angles(3600)
    depth = sinusoid.depth_mm(theta)
    assert math.degrees(theta[np.argmax(depth)]) == pytest.approx(250.0, abs=0.1)
    assert depth.max() == pytest.approx(100.0 + 28.0 * math.tan(math.radians(30.0)))
    assert sinusoid.dip_deg(28.0) == pytest.approx(30.0) and sinusoid.azimuth_deg() == pytest.approx(250.0)


def tadpoles_of(svg_text: str) -> List[Dict[str, str]]:
    return [dict(re.findall(r'data-([\w-]+)="([^"]*)"', g)) for g in re.findall(r'<g class="tadpole"([^>]*)>', svg_text)]


def test_the_tadpole_track_has_one_tadpole_a_plane_at_its_depth_dip_azimuth_and_kind(well) -> None:
    out, result, _ = well
    rows = read_table(out / "well_planes.csv")
    tadpoles = tadpoles_of((out / "well_planes.svg").read_text())
    assert [(float(t["depth-m"]), float(t["dip-deg"]), float(t["azimuth-deg"]), t["kind"]) for t in tadpoles] == \
        [(r.depth, r.dip_deg, r.azimuth_deg, r.kind) for r in rows]
    assert result.planes.track == out / "well_planes.svg"
    page = (out / "report.html").read_text()
    assert 'src="well_planes.svg"' in page and page.index("well_ct_log.svg") < page.index("well_planes.svg")


def test_chromium_renders_the_tadpole_track_beside_the_ct_log(well, tmp_path: Path) -> None:
    from test_report_browser import CHROMIUM, CHROMIUM_MISSING, body_attributes, run_chromium
    require(CHROMIUM, CHROMIUM_MISSING)
    out, result, _ = well
    done = run_chromium(tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", result.report.as_uri())
    attributes = body_attributes(done.stdout)
    assert attributes.get("data-images-loaded") == attributes.get("data-images-total")
    assert 'src="well_planes.svg"' in done.stdout
    done = run_chromium(tmp_path / "profile2", "--virtual-time-budget=5000", "--dump-dom",
                        (out / "well_planes.svg").as_uri())
    assert len(tadpoles_of(done.stdout)) == len(read_table(out / "well_planes.csv"))  # parsed by the browser
    shot = tmp_path / "tadpoles.png"
    done = run_chromium(tmp_path / "profile3", "--screenshot=%s" % shot, "--window-size=600,1500",
                        "--virtual-time-budget=5000", (out / "well_planes.svg").as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0xb4, 0x53, 0x09), (0x1f, 0x5f, 0xbf)):  # beds' and fractures' ink drawn
        assert (np.abs(pixels - colour).sum(axis=1) < 30).sum() > 200, colour


def test_each_cores_unwrap_picture_shows_its_sinusoids(well) -> None:
    from CoreBatchLoaderLib.report.figure import ACCENT_RGB
    from test_report import decode_png

    def accent_pixels(name: str) -> int:
        _, rgb = decode_png((well[0] / "unwrap" / ("%s_unwrap.png" % name)).read_bytes())
        return int((rgb.reshape(-1, 3) == ACCENT_RGB).all(axis=1).sum())

    assert accent_pixels("core_a") > 1000  # core_a's three beds drawn in the accent colour
    assert accent_pixels("core_d") == 0  # no plane: nothing drawn


def test_a_core_without_depth_has_its_planes_in_mm_from_its_top() -> None:
    from CoreBatchLoaderLib.planes.tables import table_text
    row = PlaneRow("c1", 123.4, False, 20.0, 90.0, "bed", 400.0, 4.0, 1.0, 0.9)
    assert table_text([row], in_metres=False).splitlines() == [
        "depth_mm," + ",".join(COLUMNS), "123.4,20.0,90.0,bed,400,4.0,1.00,0.90"]


def test_the_scene_holds_each_plane_as_a_markups_plane_at_its_place_and_orientation(well) -> None:
    """slicer-core reads the scene back: each true plane's markups node crosses its core's axis
    within the depth tolerance of the truth and its normal is within the dip tolerance."""
    slicer = require_module("slicer", "slicer-core")
    from CoreBatchLoaderLib.synthetic.dipping_beds import core_frame, plane_normal
    from CoreBatchLoaderLib.mrml.planes import register_markups_storage
    from test_well_scene import ijk_to_ras

    out, _, cores = well
    scene = slicer.vtkMRMLScene()
    register_markups_storage(scene)  # as Slicer's Markups module does in the application
    scene.SetURL(str(out / "scene.mrml"))
    assert scene.Import()
    nodes = [scene.GetNthNodeByClass(n, "vtkMRMLMarkupsPlaneNode")
             for n in range(scene.GetNumberOfNodesByClass("vtkMRMLMarkupsPlaneNode"))]
    rows = read_table(out / "well_planes.csv")
    assert len(nodes) == len(rows)
    found, _ = matches(rows, cores)
    truths = truths_in_metres(cores)
    for n, row in found.items():
        name, _, truth = truths[n]
        core = dict(cores)[name]
        number = [r for r in rows if r.core == name].index(row) + 1
        title = "%s plane %d (%s, %.0f°/%.0f°)" % (name, number, row.kind, row.dip_deg, row.azimuth_deg)
        node = scene.GetFirstNodeByName(title)
        assert node is not None, title
        assert title in folder_children_of(scene, name)
        matrix = ijk_to_ras(scene.GetFirstNodeByName(name))  # the core's volume as the scene places it
        spacing = np.linalg.norm(matrix[:3, :3], axis=0)
        point = core.axis_at_depth(truth.depth_mm) / core.spacing_mm
        centre = matrix[:3, :3] @ point + matrix[:3, 3]
        normal = (matrix[:3, :3] / spacing) @ plane_normal(core_frame(core.axis_direction, core.flip), truth.dip_deg,
                                                           truth.azimuth_deg)
        origin, picked = [0.0] * 3, [0.0] * 3
        node.GetOriginWorld(origin)
        node.GetNormalWorld(picked)
        assert np.linalg.norm(np.array(origin) - centre) <= DEPTH_MM, (title, origin, centre)
        angle = math.degrees(math.acos(min(1.0, abs(float(np.dot(picked, normal))))))
        assert angle <= DIP_DEG, (title, angle)


def folder_children_of(scene, core: str) -> List[str]:
    import slicer
    import vtk
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    ids = vtk.vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), ids, True)
    folders = [ids.GetId(n) for n in range(ids.GetNumberOfIds()) if sh.GetItemName(ids.GetId(n)) == "%s planes" % core]
    assert len(folders) == 1
    children = vtk.vtkIdList()
    sh.GetItemChildren(folders[0], children)
    return [sh.GetItemName(children.GetId(n)) for n in range(children.GetNumberOfIds())]


def test_the_panel_has_a_planes_section_bound_to_the_parameter_node_and_the_child_picks(tmp_path: Path) -> None:
    """Statically (the panel runs only inside Slicer): the section's widgets in the .ui, its setting
    bound to the parameter node, the section created and disabled with the others; and the panel's
    setting reaches the child process as --planes."""
    import xml.etree.ElementTree as ElementTree
    from CoreBatchLoaderLib.slicer_process import convert_arguments, panel_options
    from test_slicer_module_static import MODULE_DIR, MODULE_FILE

    ui = ElementTree.parse(MODULE_DIR / "Resources" / "UI" / "CoreBatchLoader.ui").getroot()
    widgets = {w.get("name"): w for w in ui.iter("widget")}
    assert widgets["planesCollapsibleButton"].get("class") == "ctkCollapsibleButton"
    assert widgets["planesTable"].get("class") == "QTableWidget"
    bound = [p.findtext("string") for p in widgets["planesCheckBox"].iter("property")
             if p.get("name") == "SlicerParameterName"]
    assert bound == ["planes"]
    module = MODULE_FILE.read_text(encoding="utf-8")
    assert "    planes: bool = False  #" in module and "PlanesSection(self.ui, self.logic)" in module
    assert "self.ui.planesCollapsibleButton" in module.split("def _updateButtons", 1)[1].split("def ", 1)[0]
    assert "planes=p.planes" in module.split("def _start", 1)[1].split("def ", 1)[0]
    section = (MODULE_DIR / "CoreBatchLoaderWidgets" / "planes.py").read_text(encoding="utf-8")
    assert "read_table" in section and "WELL_TABLE" in section
    options = panel_options(planes=True)
    arguments = convert_arguments(tmp_path / "in", tmp_path / "out", options)
    assert "--planes" in arguments and "--planes" not in convert_arguments(tmp_path, tmp_path, panel_options())
    assert batch_options(build_parser().parse_args(["convert"] + arguments)) == options


def test_writing_planes_into_a_scene_prints_no_vtk_warning(tmp_path: Path, capfd) -> None:
    """A batch's stderr is the user's: markups ask the scene's selection node for their length
    unit, and a bare slicer-core scene has none — each plane written printed ``GetUnitNode failed:
    selection node not found`` (mutation: drop ``ensure_selection_node`` from ``add_planes``)."""
    require_module("slicer", "slicer-core")
    import slicer
    from CoreBatchLoaderLib.mrml.planes import add_planes
    from CoreBatchLoaderLib.well.plane_places import PlacedPlane

    scene = slicer.vtkMRMLScene()
    folder = slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene).GetSceneItemID()
    plane = PlacedPlane("core_001", "core_001 plane 1 (bed, 20°/90°)", (0.0, 0.0, -2450000.0),
                        (0.0, -0.342, -0.940), (0.0, 0.940, -0.342), (60.0, 64.0), "bed", 20.0, 90.0)
    capfd.readouterr()
    ids = add_planes(scene, folder, [plane], tmp_path / "scene")
    assert len(ids["core_001"]) == 1 and (tmp_path / "scene" / "core_001_plane_1.mrk.json").is_file()
    assert "GetUnitNode" not in capfd.readouterr().err
