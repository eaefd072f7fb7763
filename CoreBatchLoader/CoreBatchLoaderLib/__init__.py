"""CoreBatchLoaderLib: the engine of CoreBatchLoader, importable without 3D Slicer.

The data path, one module per stage:

- :mod:`.dicom_headers` — one file's header → slice records (no pixel data read)
- :mod:`.discover` — folders under the input → cores (series, split and named)
- :mod:`.geometry` — slice order and the regular LPS grid (where the order is decided)
- :mod:`.voxel_values` — rescale slope/intercept and the output voxel type
- :mod:`.pixel_reader` — a slice's stored values (copied, or decoded when compressed)
- :mod:`.nrrd_writer` — streaming, atomic NRRD writing
- :mod:`.convert` — one core → one NRRD
- :mod:`.manifest` — the per-core records and ``manifest.json``
- :mod:`.batch` — every core folder, in processes or on Dask, resumable
- :mod:`.cli` — the ``corebatchloader`` command

Dependencies: numpy and pydicom only (both ship inside Slicer); Python 3.9 syntax.
"""
__version__ = "0.1.0"
