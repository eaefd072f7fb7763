"""CoreBatchLoader's self-test, run by ctest inside 3D Slicer.

Registered in CoreBatchLoader/CMakeLists.txt with ``slicer_add_python_unittest``, which runs::

    Slicer --no-splash --testing --python-code \
        "import slicer.testing; slicer.testing.runUnitTest([...], 'CoreBatchLoaderSelfTest')"

unittest collects :class:`CoreBatchLoader.CoreBatchLoaderTest` from this module's namespace: a
synthetic well converted by the fast route and by Slicer's DICOMLib route, the two routes' NRRD
files compared voxel for voxel and in IJK-to-RAS, add-to-scene and cancel checked.  The same
test runs from the module panel's "Reload and Test" button.
"""
import os
import sys

# Once Slicer has loaded the module its folder is on sys.path; from a source checkout it is not.
_SOURCE_MODULE_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   os.pardir, os.pardir, "CoreBatchLoader"))
if _SOURCE_MODULE_DIR not in sys.path:
    sys.path.append(_SOURCE_MODULE_DIR)

from CoreBatchLoader import CoreBatchLoaderTest  # noqa: E402,F401  (collected by unittest)
