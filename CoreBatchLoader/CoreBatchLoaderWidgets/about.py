"""The module's help and acknowledgement texts, and where the help links: the documentation of this
copy of the extension."""
from pathlib import Path

import slicer
from slicer.i18n import tr as _

EXTENSION_NAME = "CoreBatchLoader"  # project() in CMakeLists.txt; the Extensions Index entry's file name
METADATA_LOCAL = 1  # qSlicerExtensionsManagerModel::MetadataLocal (the .s4ext installed with it; not a Q_ENUM)


def documentationLink() -> str:
    """A link to the module's documentation: docs/slicer.md beside a source checkout, else the
    homepage the Extensions Manager recorded for the installed extension (EXTENSION_HOMEPAGE in
    CMakeLists.txt, where the repository's address is set once); "" when neither is known."""
    local = Path(__file__).resolve().parents[2] / "docs" / "slicer.md"
    if local.is_file():
        link = local.as_uri()
    else:
        try:  # the installed extension's own description (no network)
            link = slicer.app.extensionsManagerModel().extensionMetadata(EXTENSION_NAME, METADATA_LOCAL).get("homepage")
        except Exception:  # no Extensions Manager in this Slicer, or the module not installed as an extension
            link = None
    return _('See the <a href="{link}">documentation</a>.').format(link=link) if link else ""


def helpText() -> str:
    """The module's help (Slicer's Help & Acknowledgement box), with :func:`documentationLink`."""
    return _("""
Converts CT scans of rock well cores — one folder of DICOM slices per core — into NRRD volumes,
one per core, with exact pixel spacing, slice distance and voxel values, and a
<code>manifest.json</code> describing every core (status, geometry, warnings).
<ul>
<li><b>Input folder</b>: the folder holding the core folders (searched recursively).</li>
<li><b>Output folder</b>: where the <code>.nrrd</code> files and the manifest go; a rerun skips
cores that are already done.</li>
<li><b>Route</b>: <i>fast</i> copies the pixel bytes (close to disk speed); <i>dicomlib</i> loads
each core with Slicer's DICOM reader and saves it (slow, the reference).</li>
<li><b>Add to scene</b>: load the converted cores into a subject-hierarchy folder. A whole well
rarely fits in memory: leave it off for large batches and double-click cores in the results.</li>
</ul>
To try it: Sample Data → Core Batch Loader → CoreBatchLoaderSampleWell (a well generated here, nothing
is downloaded), then Start.
Console: <code>import CoreBatchLoader; CoreBatchLoader.CoreBatchLoaderLogic().convert(inputDir, outputDir)</code>.
""") + documentationLink()


def acknowledgementText() -> str:
    return _("""
Built on 3D Slicer's scripted module template (Jean-Christophe Fillion-Robin, Kitware Inc.;
Andras Lasso, PerkLab; Steve Pieper, Isomics, Inc.; NIH grant 3P41RR013218-12S1), pydicom and numpy.
""")
