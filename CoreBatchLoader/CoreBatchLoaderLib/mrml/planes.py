"""The picked planes in a Slicer scene: one ``vtkMRMLMarkupsPlaneNode`` a plane, at its place and
orientation in its core's volume (:mod:`..well.plane_places`), named
``<core> plane <n> (<kind>, <dip>°/<azimuth>°)``, grouped per core in a subject-hierarchy folder
``<core> planes`` under the well's, so a user sees the fractures in 3D and corrects them with
Slicer's own markups tools.

Each node is stored by Slicer's markups JSON storage node in ``scene/<core>_plane_<n>.mrk.json``
(written under a temporary name and renamed: never half a file under a final name).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from ..files import record_written, temporary_path
from ..well.plane_places import PlacedPlane
from . import cores as mrml_scene

ATTRIBUTE_PREFIX = "CoreBatchLoader."
BED_COLOUR, FRACTURE_COLOUR = (0.71, 0.33, 0.04), (0.12, 0.37, 0.75)


def add_planes(scene: Any, folder_item: int, planes: Sequence[PlacedPlane], storage_dir: Path) -> Dict[str, List[str]]:
    """Add ``planes`` to ``scene`` under ``folder_item`` (one folder a core), their files in
    ``storage_dir``; returns core → the plane nodes' IDs."""
    ensure_selection_node(scene)
    register_markups_storage(scene)
    sh = mrml_scene.subject_hierarchy(scene)
    folders: Dict[str, int] = {}
    ids: Dict[str, List[str]] = {}
    storage_dir.mkdir(parents=True, exist_ok=True)
    for plane in planes:
        if plane.core not in folders:
            folders[plane.core] = sh.CreateFolderItem(folder_item, "%s planes" % plane.core)
        node = plane_node(scene, plane)
        number = len(ids.setdefault(plane.core, [])) + 1
        _store(scene, node, storage_dir / ("%s_plane_%d.mrk.json" % (plane.core, number)))
        mrml_scene.place_in_folder(scene, node, folders[plane.core])
        ids[plane.core].append(node.GetID())
    return ids


def plane_node(scene: Any, plane: PlacedPlane) -> Any:
    """A markups plane at ``plane``'s centre, normal and size (point-normal type, absolute size)."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsPlaneNode", plane.name)
    node.SetPlaneType(node.PlaneTypePointNormal)
    normal = np.array(plane.normal_ras)
    x_axis = np.array(plane.dip_direction_ras)  # x × y = the normal: a right-handed frame
    y_axis = np.cross(normal, x_axis)
    node.SetAxes(tuple(float(v) for v in x_axis), tuple(float(v) for v in y_axis), tuple(float(v) for v in normal))
    node.SetOrigin(*plane.centre_ras)
    node.SetSizeMode(node.SizeModeAbsolute)
    node.SetSize(float(plane.size_mm[1]), float(plane.size_mm[0]))  # along x (the dip), along y
    node.SetLocked(0)
    for key, value in (("kind", plane.kind), ("dip_deg", "%.1f" % plane.dip_deg),
                       ("azimuth_deg", "%.1f" % plane.azimuth_deg), ("core", plane.core)):
        node.SetAttribute(ATTRIBUTE_PREFIX + key, value)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None:
        colour = BED_COLOUR if plane.kind == "bed" else FRACTURE_COLOUR
        display.SetSelectedColor(*colour)
        display.SetColor(*colour)
    return node


def ensure_selection_node(scene: Any) -> None:
    """The selection node Slicer's application logic puts in every scene (singleton tag
    "Singleton"): markups ask it for their length unit, and without it slicer-core prints a VTK
    warning (``GetUnitNode failed: selection node not found``) for every plane it writes."""
    import slicer

    if scene.GetFirstNodeByClass("vtkMRMLSelectionNode") is None:
        selection = slicer.vtkMRMLSelectionNode()
        selection.SetSingletonTag("Singleton")
        scene.AddNode(selection)


def register_markups_storage(scene: Any) -> None:
    """Register the markups' JSON storage node classes in ``scene`` where they are not yet: a bare
    slicer-core scene has the markups nodes but not their storage (Slicer's Markups module
    registers them in the application) — to write them, and to read a scene holding them."""
    import slicer

    for name in ("vtkMRMLMarkupsJsonStorageNode", "vtkMRMLMarkupsPlaneJsonStorageNode"):
        if not scene.IsNodeClassRegistered(name):
            scene.RegisterNodeClass(getattr(slicer, name)())


def _store(scene: Any, node: Any, path: Path) -> None:
    """Write ``node`` with its markups JSON storage node, whole or not at all, and point at it."""
    storage = scene.AddNewNodeByClass(node.GetDefaultStorageNodeClassName())
    partial = temporary_path(path)
    storage.SetFileName(str(partial))
    if not storage.WriteData(node):
        raise RuntimeError("Slicer could not write %s" % path)
    os.replace(partial, path)
    record_written(path)
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
