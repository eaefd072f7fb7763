"""Which library deflates and inflates NRRD's ``encoding: gzip``: ISA-L when installed, else zlib.

Both read and write the same plain gzip streams (Slicer's reader inflates either).  ISA-L
(PyPI ``isal``, the ``compress`` extra) was chosen by measurement on the real chest CT the tests
use (``bench/gzip_choice.py``): at level 2 it deflates ~5× faster than zlib level 1 with output
2.4 % above zlib level 6's size, and inflates ~2× faster than zlib (the report's thumbnail of a
compressed core inflates it).  libdeflate (``deflate``) has no streaming API — the writer holds
one slice at a time — and zlib-ng is barely faster than zlib at comparable sizes.  Without the
wheel, zlib at level 1 (level 6 is ~4× slower for files 2 % smaller).
"""
from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any, Optional, Tuple

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream
ISAL_LEVEL = 2  # of 0-3: the fastest within 3 % of zlib level 6's size on real CT
ZLIB_LEVEL = 1
FAST_GZIP_MISSING = "--compress: the fast deflate (isal) is not installed, using zlib (~5× slower): pip install isal"


def zlib_module() -> ModuleType:
    """``isal.isal_zlib`` (zlib's API, ISA-L's speed) when installed, else ``zlib``."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


def gzip_compressor() -> Any:
    """A streaming gzip compressor (``compress(data)``, ``flush()``)."""
    module = zlib_module()
    level = ZLIB_LEVEL if module is zlib else ISAL_LEVEL
    return module.compressobj(level, module.DEFLATED, GZIP_WBITS)


def gzip_decompressor() -> Tuple[Any, Tuple[type, ...]]:
    """A streaming inflater that takes a gzip or zlib header, and the errors it raises on bad data."""
    module = zlib_module()
    return module.decompressobj(zlib.MAX_WBITS | 32), (zlib.error, module.error)


def fast_gzip_note() -> Optional[str]:
    """The one line to show a user of ``--compress`` when the fast deflate is missing, or None."""
    return FAST_GZIP_MISSING if zlib_module() is zlib else None
