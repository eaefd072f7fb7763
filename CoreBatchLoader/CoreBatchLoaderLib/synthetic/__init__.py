"""Synthetic CT series of rock well cores, written as DICOM files, with their ground truth.

Real core scans are large and not redistributable, so the tests, the demo, the benchmarks and
the Slicer self-test generate their input here: :mod:`.dicom_files` builds the datasets and
pixels, :mod:`.cores` writes whole series and wells, :mod:`.phantoms` cores with known CT numbers
and features, :mod:`.sample_well` the well that looks like rock (``corebatchloader sample``).
"""
from .cores import write_core_series, write_well
from .dicom_files import CT_IMAGE_STORAGE, ENHANCED_CT_IMAGE_STORAGE, SUPPORTED_TRANSFER_SYNTAXES, SyntheticSeries
from .sample_well import write_sample_well

__all__ = ["CT_IMAGE_STORAGE", "ENHANCED_CT_IMAGE_STORAGE", "SUPPORTED_TRANSFER_SYNTAXES", "SyntheticSeries",
           "write_core_series", "write_sample_well", "write_well"]
