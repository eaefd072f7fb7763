"""The report: report.html, manifest.csv and the pictures it shows (thumbnails, PNG)."""
