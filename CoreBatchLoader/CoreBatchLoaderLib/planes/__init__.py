"""Planes crossing the cores — beds and fractures picked as sinusoids on the unwraps a conversion
wrote, and their tables.  Imports :mod:`..nrrd`, :mod:`..analysis` (the unwrap's names), :mod:`..files`,
:mod:`..messages` and :mod:`..record`; the report, the well and the scene import it."""
