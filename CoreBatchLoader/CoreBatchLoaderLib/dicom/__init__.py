"""DICOM in: headers (fast scanner), folders → cores, slice geometry, voxel values, pixel reading. numpy + pydicom only."""
