"""Where the module's help links: the documentation of this copy of the extension."""
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
