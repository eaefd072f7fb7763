"""Compressed DICOM test data: the synthetic writer's files transcoded by GDCM's own encoder.

pydicom 3 encodes none of the JPEG family but JPEG-LS and JPEG 2000, and those only through other
packages; python-gdcm (a dependency of the engine) encodes them all, as Slicer's GDCM decodes them.
"""
from __future__ import annotations

from pathlib import Path

import gdcm

# GDCM's names of the syntaxes Slicer's DICOM reader decodes, and what they are (PS3.5 A.4)
SYNTAXES = {
    "jpeg_lossless_sv1": "JPEGLosslessProcess14_1",  # 1.2.840.10008.1.2.4.70, the CT scanners' favourite
    "jpeg_lossless": "JPEGLosslessProcess14",  # 1.2.840.10008.1.2.4.57
    "jpeg_ls_lossless": "JPEGLSLossless",  # 1.2.840.10008.1.2.4.80
    "jpeg2000_lossless": "JPEG2000Lossless",  # 1.2.840.10008.1.2.4.90
    "jpeg2000": "JPEG2000",  # 1.2.840.10008.1.2.4.91 (lossy allowed; GDCM's default is reversible)
}


def transcode(path: Path, syntax: str) -> None:
    """Rewrite ``path`` in the transfer syntax GDCM calls ``syntax`` (its own encoder)."""
    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    assert reader.Read(), path
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, syntax)))
    change.SetInput(reader.GetImage())
    assert change.Change(), (path, syntax)
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write(), path
