"""CoreBatchLoaderLib: the engine of CoreBatchLoader, importable without 3D Slicer.

The folders follow the data; each imports only from those listed before it
(``Testing/test_layering.py`` checks this, and that nothing here but :mod:`.mrml` imports
Slicer, Qt, CTK or VTK):

- :mod:`.synthetic` — generated DICOM cores with their ground truth (tests, demo, bench, self-test)
- :mod:`.messages`, :mod:`.files`, :mod:`.defaults` — one-line messages; files that appear whole
  or not at all; the defaults the Slicer panel reads at start-up (no numpy)
- :mod:`.dicom` — headers (fast scanner), folders → cores, slice geometry, voxel values, pixels
- :mod:`.nrrd` — streaming NRRD writer and the reader the report and the scene use
- :mod:`.analysis` — what is measured from each slice while converting
- :mod:`.record`, :mod:`.convert` — one core's record; one core → one NRRD
- :mod:`.report` — report.html, manifest.csv, thumbnails, PNG
- :mod:`.well` — depths, placement, proxies, overview, well strip: the scene's files, no MRML
- :mod:`.mrml` — volumes and the well in a Slicer scene (slicer-core outside Slicer)
- :mod:`.batch` — every core folder in processes or on Dask, resumable; manifest; the well's steps
- :mod:`.cli` — the ``corebatchloader`` command
- :mod:`.slicer_process`, :mod:`.slicer_batch` — running from Slicer's process; the headless entry

Dependencies: numpy and pydicom (both ship inside Slicer); Python 3.9 syntax.
"""
__version__ = "0.1.0"
