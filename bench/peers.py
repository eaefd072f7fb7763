"""The peer converters the benchmark runs, one process per run: `peers.py TOOL OUTPUT FOLDER…`.

- simpleitk: SimpleITK's GDCM series reader → NRRD (what a Python user would write);
- slicer: Slicer's own path — the DICOM plugin's sorted GDCM read (Testing/slicer_oracle.py, the
  same code the tests use as the oracle) saved with Slicer's NRRD storage node, uncompressed.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def simpleitk(output: Path, folders: list) -> None:
    import SimpleITK as sitk
    for folder in folders:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        sitk.WriteImage(reader.Execute(), str(output / (Path(folder).name + ".nrrd")), useCompression=False)


def slicer_path(output: Path, folders: list) -> None:
    sys.path.insert(0, str(ROOT / "Testing"))
    import slicer
    from slicer_oracle import read_dicom_node_like_slicer, save_node_like_slicer
    for folder in folders:
        scene = slicer.vtkMRMLScene()
        node = read_dicom_node_like_slicer(sorted(Path(folder).glob("*.dcm")), scene)
        save_node_like_slicer(node, output / (Path(folder).name + ".nrrd"))
        scene.Clear(1)


def main() -> int:
    tool, output, folders = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    {"simpleitk": simpleitk, "slicer": slicer_path}[tool](output, folders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
