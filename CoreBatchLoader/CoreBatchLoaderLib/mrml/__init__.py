"""Slicer's MRML: core volumes and the whole well in a scene (slicer-core outside Slicer, Slicer inside)."""
