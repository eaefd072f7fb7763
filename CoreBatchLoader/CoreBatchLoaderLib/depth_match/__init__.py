"""Cores on log depth: the wireline read (lasio), the CT logs smoothed to the tool's response, the
CT-number ↔ density calibration and the joint solver; imports ``analysis/``, ``report/`` and below."""
