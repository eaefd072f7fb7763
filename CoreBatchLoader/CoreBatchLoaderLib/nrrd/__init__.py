"""NRRD: the streaming writer (one slice in memory) and the reader the report and the scene use."""
