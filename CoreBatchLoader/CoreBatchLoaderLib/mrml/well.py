"""The whole well in a Slicer scene: ``scene.mrml``, or the same nodes in a live scene.

The MRML side of the files :mod:`..well.layout` writes.  One subject-hierarchy folder per well
holds "<well> overview", then every core (its proxy or its full-resolution placed header),
sorted by depth, then every core's unwrap ("<core> unwrap", a vertical plane at the core's depth
beside the cores: the coronal view through the well shows sections and unwraps side by side).  Every volume gets:

- a ``vtkMRMLVolumeArchetypeStorageNode`` pointing at its file, so the scene file lists the
  file (relative to the scene: the output folder can move) and Slicer reads the geometry from
  the NRRD header at full precision — MRML keeps node positions to 6 significant digits;
- a display node with the same grey window for every core (the rock-CT window: air black,
  dense minerals white), so one grey is one density all along the well;
- attributes ``CoreBatchLoader.top_m`` etc. (depths, source, spacing, proxy factor) for
  people and scripts; the placement itself is in the files.

``scene.mrml`` also sets the three slice views on the overview, centred on the well, as a scene
saved by Slicer does (singleton slice and slice-composite nodes that Slicer merges into its
views when it opens the scene).

``slicer`` is imported inside the functions: the engine imports without Slicer, and
``--scene`` without slicer-core is a usage error naming the package (:func:`require_slicer`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..files import write_text_atomically
from ..messages import printable_line
from ..well.layout import SCENE_DIR, PlacedCore, WellLayout
from ..well.plane_places import PlacedPlane
from ..well.placement import Grid
from . import cores as mrml_scene
from .ct_log import add_log_plot
from .planes import add_planes

SCENE_NAME = "scene.mrml"
SCENE_VERSION = "Slicer 5.4.0 0"  # application, version, revision: the oldest Slicer we support
ATTRIBUTE_PREFIX = "CoreBatchLoader."
GREY_COLOR_NODE_ID = "vtkMRMLColorTableNodeGrey"  # one of Slicer's default colour tables
VIEWS = (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal"))


class SceneUnavailable(Exception):
    """slicer-core (or Slicer) is not importable."""


SCENE_MISSING = ("--scene writes a 3D Slicer scene and needs Slicer's MRML library, the scene extra: "
                 "pip install \"corebatchloader[scene]\" (slicer-core), "
                 "or run inside 3D Slicer")


def require_slicer() -> None:
    """Raise :class:`SceneUnavailable`, naming the package, unless Slicer's MRML can be imported."""
    try:
        import slicer
        slicer.vtkMRMLScene  # noqa: B018 - another package is also called "slicer"
        slicer.vtkMRMLVolumeArchetypeStorageNode  # noqa: B018
    except (ImportError, AttributeError):
        raise SceneUnavailable(SCENE_MISSING) from None


@dataclass
class WellNodes:
    """What :func:`add_well` put in the scene."""

    folder_item: int
    overview: Optional[str] = None  # node ID
    cores: Dict[str, str] = field(default_factory=dict)  # core name → node ID, in depth order
    unwraps: Dict[str, str] = field(default_factory=dict)  # core name → its "<core> unwrap" node ID


def add_well(scene: Any, output_dir: Path, layout: WellLayout, load_data: bool = True) -> WellNodes:
    """Add the well's volumes (see the module docstring) to ``scene``; returns their IDs.

    ``load_data`` reads every volume now (a live scene: ``slicer.mrmlScene``); without it the
    nodes only point at their files, which is all a scene file needs — Slicer reads them when
    it opens the scene, and writing ``scene.mrml`` then costs no voxel memory at all.
    """
    output_dir = Path(output_dir)
    nodes = WellNodes(mrml_scene.batch_folder(scene, layout.well))
    window = layout.window
    if layout.overview_file:
        overview = _add_volume(scene, "%s overview" % layout.well, output_dir / layout.overview_file,
                               None, window, load_data)
        overview.SetAttribute(ATTRIBUTE_PREFIX + "overview", "1")
        overview.SetAttribute(ATTRIBUTE_PREFIX + "voxel_mm", repr(layout.overview_voxel_mm))
        mrml_scene.place_in_folder(scene, overview, nodes.folder_item)
        nodes.overview = overview.GetID()
    for core in sorted(layout.cores, key=lambda c: (c.top_m, c.name)):
        volume = _add_volume(scene, core.name, output_dir / core.file, core.grid, window, load_data)
        set_core_attributes(volume, core)
        mrml_scene.place_in_folder(scene, volume, nodes.folder_item)
        nodes.cores[core.name] = volume.GetID()
    for core in sorted(layout.cores, key=lambda c: (c.top_m, c.name)):
        if core.unwrap_file:
            unwrap = _add_volume(scene, "%s unwrap" % core.name, output_dir / core.unwrap_file, core.unwrap_grid,
                                 window, load_data)
            for key, value in (("top_m", repr(core.top_m)), ("bottom_m", repr(core.bottom_m)),
                               ("unwrap_radius_mm", repr(core.unwrap_radius_mm)), ("unwrap_of", core.name)):
                unwrap.SetAttribute(ATTRIBUTE_PREFIX + key, value)
            mrml_scene.place_in_folder(scene, unwrap, nodes.folder_item)
            nodes.unwraps[core.name] = unwrap.GetID()
    return nodes


def write_scene(output_dir: Path, layout: WellLayout, durable: bool = True,
                log_table: Optional[Path] = None, planes: Sequence[PlacedPlane] = ()) -> Path:
    """``OUTPUT_DIR/scene.mrml``: the well's nodes, file names relative to the output folder;
    with ``log_table`` (``well_ct_log.csv``) also the CT log's table node and plot chart; with
    ``planes`` the picked planes as markups (:mod:`.planes`, files in the scene folder).

    Replaced atomically, like every other output.  No voxel is loaded.
    """
    import slicer

    output_dir = Path(output_dir).resolve()
    path = output_dir / SCENE_NAME
    scene = slicer.vtkMRMLScene()
    try:
        nodes = add_well(scene, output_dir, layout, load_data=False)
        if nodes.overview:
            show_in_views(scene, scene.GetNodeByID(nodes.overview), layout)
        if log_table is not None:
            add_log_plot(scene, Path(log_table).resolve(), layout.well)
        if planes:
            add_planes(scene, nodes.folder_item, planes, output_dir / SCENE_DIR)
        scene.SetRootDirectory(str(output_dir))  # file names are written relative to this
        scene.SetURL(str(path))
        scene.SetSaveToXMLString(1)  # the text, written atomically below, never half a file
        # Slicer warns "saved with another application, may not load correctly" unless the
        # version names Slicer; the scene is for the Slicer versions the module supports.
        scene.SetVersion(SCENE_VERSION)
        if not scene.Commit():
            raise RuntimeError("Slicer could not write the scene %s" % path)
        write_text_atomically(path, scene.GetSceneXMLString(), durable)
    finally:
        scene.Clear(1)
    return path


def is_proxy(node: Any) -> bool:
    """The node shows a core's block-mean proxy, not the core at full resolution."""
    return node.GetAttribute(ATTRIBUTE_PREFIX + "proxy_factor") not in (None, "1")


def swap_to_full_resolution(scene: Any, node: Any) -> bool:
    """Replace a core's proxy by the core at full resolution, in place (same node, same folder).

    The storage node is pointed at the full-resolution placed header next to the proxy and the
    volume re-read.  Returns False when the node is not a proxy (already full resolution).
    Memory: the full core's voxels — the reason it is not done for every core.
    """
    if not is_proxy(node):
        return False
    storage = node.GetStorageNode()
    full_name = node.GetAttribute(ATTRIBUTE_PREFIX + "full_resolution_file")
    if storage is None or not full_name:
        raise mrml_scene.SceneLoadError("%s has no full-resolution file recorded" % node.GetName())
    current = storage.GetFullNameFromFileName() or storage.GetFileName()
    full = Path(current).parent / full_name
    if not full.is_file():
        raise mrml_scene.SceneLoadError("%s: full-resolution file %s not found" % (node.GetName(), full))
    storage.SetFileName(str(full))
    if not storage.ReadData(node):
        storage.SetFileName(current)
        raise mrml_scene.SceneLoadError("Slicer's volume reader could not read %s" % full)
    node.SetAttribute(ATTRIBUTE_PREFIX + "proxy_factor", "1")
    return True


def set_core_attributes(node: Any, core: PlacedCore) -> None:
    """Depths, source, spacing and proxy factor as node attributes (text, as written; the source
    folder as one printable line: Slicer's XML escapes markup but writes a control character in
    a folder's name as it is, which no XML reader reads back)."""
    values = {
        "top_m": repr(core.top_m), "bottom_m": repr(core.bottom_m), "flip": "1" if core.flip else "0",
        "source": printable_line(core.source), "spacing_mm": " ".join(repr(v) for v in core.spacing),
        "proxy_factor": str(core.factor), "full_resolution_file": Path(core.full_file).name,
    }
    for key, value in values.items():
        node.SetAttribute(ATTRIBUTE_PREFIX + key, value)


def show_in_views(scene: Any, volume: Any, layout: WellLayout) -> None:
    """The three slice views on ``volume``, centred on the well, showing its whole length.

    Singleton slice and slice-composite nodes with Slicer's layout names (Red, Yellow,
    Green), as in a scene Slicer saves: opening the scene merges them into the views.
    """
    import slicer

    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    top = max(c.s_top_mm for c in layout.cores)
    bottom = min(c.s_bottom_mm for c in layout.cores)
    length = top - bottom
    width = max(float(abs(c.grid.ras_bounds()[:2]).max()) for c in layout.cores) * 2.0
    for name, orientation in VIEWS:
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
        composite.SetSingletonTag(name)
        composite.SetBackgroundVolumeID(volume.GetID())
        view = scene.AddNewNodeByClass("vtkMRMLSliceNode")
        view.SetLayoutName(name)
        view.SetSingletonTag(name)
        view.SetOrientation(orientation)
        across = 1.2 * (width if orientation == "Axial" else length)
        view.SetFieldOfView(across, across, 1.0)
        view.JumpSliceByCentering(0.0, 0.0, (top + bottom) / 2.0)


def _add_volume(scene: Any, name: str, path: Path, grid: Optional[Grid], window: Sequence[float],
                load_data: bool) -> Any:
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    storage.SetSingleFile(1)  # core_001.nhdr, core_002.nhdr… are not one numbered series
    storage.SetCenterImage(0)  # the position is the file's
    storage.SetUseOrientationFromFile(1)
    volume.SetAndObserveStorageNodeID(storage.GetID())
    if grid is not None:
        _set_geometry(volume, grid)
    display = scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
    display.SetAndObserveColorNodeID(GREY_COLOR_NODE_ID)
    display.SetAutoWindowLevel(0)
    display.SetWindowLevelMinMax(float(window[0]), float(window[1]))
    volume.SetAndObserveDisplayNodeID(display.GetID())
    if load_data and not storage.ReadData(volume):
        raise mrml_scene.SceneLoadError("Slicer's volume reader could not read %s" % path)
    return volume


def _set_geometry(volume: Any, grid: Grid) -> None:
    """The node's IJK-to-RAS before any data is read (the scene file states it, to 6 digits).

    Through the node's own setters: building a ``vtkMatrix4x4`` would import the whole ``vtk``
    package, about 50 MB — more than the rest of the scene building.
    """
    matrix = grid.ijk_to_ras()
    spacing = np.array(grid.spacing)
    volume.SetIJKToRASDirections(*(float(v) for v in (matrix[:3, :3] / spacing).ravel()))  # row-major
    volume.SetSpacing(*(float(v) for v in spacing))
    volume.SetOrigin(*(float(v) for v in matrix[:3, 3]))
