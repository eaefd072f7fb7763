"""A sample well in Slicer's Sample Data module, generated here: nothing is downloaded.

Registered as Slicer's template registers sample data (``registerSampleData`` on
``startupCompleted()``); the entry's ``customDownloader``, which the Sample Data module calls
instead of downloading (SampleData.py: ``b.connect('clicked()', lambda s=source:
s.customDownloader(s))``), writes a small well with the engine's synthetic writer — four cores
and their depth table — and opens the Core Batch Loader with its folders set: one click, then Start.
"""
from pathlib import Path
from typing import Optional

import slicer
from slicer.i18n import tr as _

SAMPLE_NAME = "CoreBatchLoaderSampleWell"  # the Sample Data entry (and its button, SAMPLE_NAME + "PushButton")
MODULE_DIR = Path(__file__).resolve().parent.parent


def registerSampleData() -> None:
    """Add the sample well to the Sample Data module (its category exists from Slicer 5.12)."""
    import SampleData

    if hasattr(SampleData.SampleDataLogic, "registerCustomSampleDataCategory"):
        SampleData.SampleDataLogic.registerCustomSampleDataCategory("CoreBatchLoader", title=_("Core Batch Loader"))
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="CoreBatchLoader",
        sampleName=SAMPLE_NAME,
        thumbnailFileName=str(MODULE_DIR / "Resources" / "Icons" / "CoreBatchLoader.png"),
        # Never fetched (customDownloader replaces the download); SampleDataSource needs one per file.
        uris="file:///" + SAMPLE_NAME,
        fileNames=SAMPLE_NAME,
        nodeNames=SAMPLE_NAME,
        loadFiles=False,
        customDownloader=lambda source: makeSampleWell(),
    )


def makeSampleWell(folder: Optional[Path] = None) -> Path:
    """Write the sample well under Slicer's cache folder (once) and open the module with it as
    input, its depth table set and an output folder beside it; returns the well's folder."""
    from CoreBatchLoader import CoreBatchLoaderLogic
    from CoreBatchLoaderLib.synthetic import write_sample_well

    folder = Path(folder or Path(slicer.app.cachePath) / "CoreBatchLoader" / "SampleWell")
    well = folder / "well"
    with slicer.util.tryWithErrorDisplay(_("Could not write the sample well"), waitCursor=True):
        if not (well / "depths.csv").is_file():  # written last: a well cut short is written again
            write_sample_well(well, top_m=2450.0)
    parameters = CoreBatchLoaderLogic().getParameterNode()
    parameters.inputDir, parameters.outputDir, parameters.depthFile = well, folder / "converted", well / "depths.csv"
    if slicer.util.mainWindow():  # not in a Slicer started without its window
        slicer.util.selectModule("CoreBatchLoader")
    return well
