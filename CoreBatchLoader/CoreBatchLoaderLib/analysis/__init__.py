"""What is measured from each slice while converting (the CT log, the unwrap); imports dicom/nrrd at most."""
