"""Put converted cores into a Slicer scene: the MRML side of "add to scene".

Every function takes a ``vtkMRMLScene``: Slicer's ``slicer.mrmlScene`` inside the application, or
a bare ``slicer.vtkMRMLScene()`` from the ``slicer-core`` package, where the tests run it.
``slicer`` and ``vtk`` are imported inside the functions, so this module imports without Slicer.

- :func:`load_volume` — an output file (``.nrrd`` or ``.nhdr``) → a scalar volume node, read by
  ``vtkMRMLVolumeArchetypeStorageNode`` (the reader Slicer's "Add data" uses), with a display
  node: grey colour table when the scene has one, window/level spanning air to dense rock.
- :func:`batch_folder` / :func:`place_in_folder` — a subject-hierarchy folder per batch.
- :func:`add_core` — one converted core's :class:`~.manifest.CoreRecord` → a node in the folder.
- :func:`adopt_volume` — a node Slicer's DICOM plugin loaded → named, stored as the NRRD just
  written, in the folder (the DICOMLib route keeps its node instead of reading the file again).
- :func:`remove_volume` — a node with its display and storage nodes, and the DICOM patient and
  study items it leaves empty.
- :func:`describe_volume` — a node's geometry back into a manifest record (LPS, as NRRD).
- :class:`BatchSceneAdder` — a batch's converted cores into its folder as they finish.

Slicer keeps volumes in RAS, NRRD files (and DICOM) are LPS: the storage node flips the first two
axes, so a node's IJK-to-RAS matrix is ``diag(-1, -1, 1)`` times the manifest's LPS geometry.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..record import CoreRecord

PathLike = Union[str, Path]

DEFAULT_FOLDER_NAME = "CoreBatchLoader"
# Window/level from these percentiles of the voxel values: air (about -1000) and the densest
# rock both stay visible, a few outlier voxels (metal, beam hardening) do not set the range.
WINDOW_PERCENTILES = (0.5, 99.9)
WINDOW_SAMPLE_SIZE = 1_000_000  # voxels looked at to choose window/level
# Subject-hierarchy levels the DICOM plugin creates above a series (removed when left empty).
_DICOM_LEVELS = ("Patient", "Study")


class SceneLoadError(Exception):
    """A converted file could not be read into the scene; the message names the file."""


def load_volume(scene: Any, path: PathLike, name: Optional[str] = None) -> Any:
    """Read ``path`` into a new ``vtkMRMLScalarVolumeNode`` in ``scene`` and return the node.

    The node gets a ``vtkMRMLVolumeArchetypeStorageNode`` pointing at the file (so saving the
    scene refers to it) and a ``vtkMRMLScalarVolumeDisplayNode``.  Raises
    :class:`SceneLoadError` (leaving no node behind) when the file cannot be read.
    """
    import slicer

    path = Path(path)
    if not path.is_file():
        raise SceneLoadError("%s does not exist" % path)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or _stem(path))
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    storage.SetSingleFile(1)  # do not look for other files of a "series" next to it
    storage.SetCenterImage(0)  # keep the position written in the file
    volume.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(volume) or volume.GetImageData() is None:
        scene.RemoveNode(volume)
        scene.RemoveNode(storage)
        raise SceneLoadError("Slicer's volume reader could not read %s" % path)
    display = scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
    grey = slicer.vtkMRMLColorLogic.GetColorTableNodeID(slicer.vtkMRMLColorTableNode.Grey)
    if grey and scene.GetNodeByID(grey) is not None:
        display.SetAndObserveColorNodeID(grey)
    low, high = window_range(volume.GetImageData())
    display.SetAutoWindowLevel(0)
    display.SetWindowLevelMinMax(low, high)
    volume.SetAndObserveDisplayNodeID(display.GetID())
    return volume


def window_range(image_data: Any) -> Tuple[float, float]:
    """(low, high) voxel values for the display window: percentiles of a regular sample."""
    import numpy as np
    from vtk.util.numpy_support import vtk_to_numpy

    scalars = image_data.GetPointData().GetScalars() if image_data is not None else None
    if scalars is None or scalars.GetNumberOfTuples() == 0:
        return 0.0, 1.0
    values = vtk_to_numpy(scalars).reshape(-1)  # a view on the voxels, no copy
    step = max(1, values.size // WINDOW_SAMPLE_SIZE)
    low, high = (float(v) for v in np.percentile(values[::step], WINDOW_PERCENTILES))
    if not high > low:
        high = low + 1.0
    return low, high


def describe_volume(record: CoreRecord, volume: Any) -> None:
    """Fill ``record``'s geometry, voxel type and size from a volume node, in the NRRD's LPS terms.

    The inverse of what the storage node does when it reads an NRRD: the node's IJK-to-RAS matrix
    with x and y negated gives the manifest's ``origin_lps`` and ``directions_lps`` (the step
    vector of i, j and k).  Used for cores that Slicer's DICOM reader loaded.
    """
    import numpy as np
    import vtk
    from vtk.util.numpy_support import get_numpy_array_type

    image = volume.GetImageData()
    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    flip = (-1.0, -1.0, 1.0)
    record.dimensions = [int(v) for v in image.GetDimensions()]
    record.spacing = [float(v) for v in volume.GetSpacing()]
    record.origin_lps = [flip[r] * matrix.GetElement(r, 3) for r in range(3)]
    record.directions_lps = [[flip[r] * matrix.GetElement(r, c) for r in range(3)] for c in range(3)]
    record.type = np.dtype(get_numpy_array_type(image.GetScalarType())).name
    scalars = image.GetPointData().GetScalars()
    record.bytes = int(scalars.GetNumberOfValues()) * int(scalars.GetDataTypeSize())


def subject_hierarchy(scene: Any) -> Any:
    """The scene's subject-hierarchy node (created when the scene has none yet)."""
    import slicer

    node = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if node is None:
        raise SceneLoadError("the scene has no subject hierarchy")
    return node


def batch_folder(scene: Any, name: str = DEFAULT_FOLDER_NAME) -> int:
    """A new top-level subject-hierarchy folder for one batch; returns its item ID.

    A name already used at the top level gets a suffix (Slicer's unique-name rule), so a
    second run never mixes its cores into the first run's folder.
    """
    sh = subject_hierarchy(scene)
    top = sh.GetSceneItemID()
    if sh.GetItemChildWithName(top, name) != sh.GetInvalidItemID():
        name = sh.GenerateUniqueItemName(name)
    return sh.CreateFolderItem(top, name)


def place_in_folder(scene: Any, node: Any, folder_item: int) -> int:
    """Move ``node``'s subject-hierarchy item under ``folder_item`` (creating the item if the
    scene has none for it, as in a bare MRML scene); returns the item ID."""
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    if item == sh.GetInvalidItemID():
        return sh.CreateItem(folder_item, node)
    old_parent = sh.GetItemParent(item)
    if old_parent != folder_item:
        sh.SetItemParent(item, folder_item)
        _remove_empty_dicom_ancestors(sh, old_parent)
    return item


def add_core(scene: Any, output_dir: PathLike, record: CoreRecord, folder_item: int) -> str:
    """Load a converted (or skipped as already done) core into ``folder_item``; returns the node ID."""
    if record.status not in ("converted", "skipped") or not record.output:
        raise SceneLoadError("core %s has no output to load (%s)" % (record.name, record.status))
    volume = load_volume(scene, Path(output_dir) / record.output, record.name)
    place_in_folder(scene, volume, folder_item)
    return volume.GetID()


def adopt_volume(scene: Any, node: Any, name: str, path: PathLike, folder_item: int) -> str:
    """Keep a node that is already in the scene as the core ``name`` saved at ``path``.

    The node is renamed, its storage node points at ``path`` (the file just written under a
    temporary name and renamed), and it moves into the batch folder; the DICOM patient and
    study items it leaves empty are removed.  Returns the node ID.
    """
    node.SetName(name)
    storage = node.GetStorageNode()
    if storage is None:
        storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    place_in_folder(scene, node, folder_item)
    return node.GetID()


def remove_volume(scene: Any, node: Any) -> None:
    """Remove ``node``, its display and storage nodes, and DICOM patient/study items left empty."""
    sh = subject_hierarchy(scene)
    helpers = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    helpers += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    item = sh.GetItemByDataNode(node)
    parent = sh.GetInvalidItemID()
    if item != sh.GetInvalidItemID():
        parent = sh.GetItemParent(item)
        # The item first, then the node: in a bare MRML scene nothing removes the item of a
        # removed node (inside Slicer the subject-hierarchy plugins would).
        sh.RemoveItem(item, False, False)
    if scene.IsNodePresent(node):
        scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and scene.IsNodePresent(helper):
            scene.RemoveNode(helper)
    _remove_empty_dicom_ancestors(sh, parent)


def _remove_empty_dicom_ancestors(sh: Any, item: int) -> None:
    """Remove ``item`` and its ancestors while they are empty DICOM patient/study items."""
    invalid, top = sh.GetInvalidItemID(), sh.GetSceneItemID()
    while item not in (invalid, top) and sh.GetItemLevel(item) in _DICOM_LEVELS \
            and sh.GetNumberOfItemChildren(item) == 0 and sh.GetItemDataNode(item) is None:
        parent = sh.GetItemParent(item)
        sh.RemoveItem(item, False, False)
        item = parent


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nrrd", ".nhdr"):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return path.stem


class BatchSceneAdder:
    """Adds a batch's converted cores to ``scene`` as they finish, in one subject-hierarchy folder
    named after the output folder (made on the first core); ``node_ids`` gets core name → node ID."""

    def __init__(self, scene: Any, output_dir: Path, node_ids: Dict[str, str]) -> None:
        self.scene = scene
        self.output_dir = Path(output_dir)
        self.node_ids = node_ids
        self._folder: Optional[int] = None

    def folder(self) -> int:
        if self._folder is None:
            self._folder = batch_folder(self.scene, self.output_dir.name or DEFAULT_FOLDER_NAME)
        return self._folder

    def add(self, records: List[CoreRecord]) -> None:
        """The converted (or already done) cores of ``records``; one that cannot be read gets a warning."""
        for record in records:
            if record.status in ("converted", "skipped") and record.output:
                try:
                    self.node_ids[record.name] = add_core(self.scene, self.output_dir, record, self.folder())
                except SceneLoadError as exc:
                    record.warnings.append("not added to the scene: %s" % exc)

    def adopt(self, volume: Any, record: CoreRecord, path: Path) -> None:
        """A volume node the DICOMLib route loaded, kept as the core's node."""
        self.node_ids[record.name] = adopt_volume(self.scene, volume, record.name, path, self.folder())
