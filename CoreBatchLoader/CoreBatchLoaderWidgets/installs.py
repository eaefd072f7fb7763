"""First-use installs: a package Slicer's Python lacks, installed only when the user says so.

- lasio (the well's LAS log) is offered at Start when a depth file is set and lasio is missing;
- the JPEG-family decoder (python-gdcm) only after a batch in which cores failed because no
  installed package decodes their slices.  Slicer ships Pillow (JPEG baseline, JPEG 2000) in
  every release and pyjpegls (JPEG-LS) from 5.12: uncompressed wells, and compressed ones those
  cover, are never asked about.  The offer names the transfer syntaxes and the cores; the panel
  then converts just those again.

Each package is asked about once a session, whatever the answer.  The install itself is
``CoreBatchLoaderLogic.installPackage`` (``slicer.packaging`` where the release has it).
Resources/requirements.txt lists what these installs pin, for the Extensions Index's reviewers.
"""
import importlib.util
from typing import Dict, List, Set

import slicer
from slicer.i18n import tr as _

LASIO_REQUIREMENT = "lasio"


def offerLasio(logic, offered: Set[str]) -> None:
    """Before a batch with depths: lasio, which writes the well's CT log as LAS."""
    if importlib.util.find_spec("lasio") is None:
        _offer(logic, LASIO_REQUIREMENT, offered, _(
            "The well's CT log (well_ct_log.las) needs the Python package {requirement}, which this Slicer does "
            "not have yet.\n\nInstall it now from PyPI? Without it the batch still runs and says what is "
            "missing.").format(requirement=LASIO_REQUIREMENT))


def offerDecoder(logic, missing: Dict[str, List[str]], offered: Set[str]) -> bool:
    """After a batch: ``missing`` (transfer syntax UID → cores that failed for lack of a decoder,
    ``slicer_process.cores_missing_a_decoder``); True when the decoder was installed, so those
    cores can be converted again."""
    from CoreBatchLoaderLib.dicom.headers import transfer_syntax_name
    from CoreBatchLoaderLib.dicom.pixel_reader import DECODER_REQUIREMENT
    from CoreBatchLoaderLib.messages import first_few

    if not missing:
        return False
    lines = "\n".join("- %s: %s" % (transfer_syntax_name(uid), first_few(sorted(cores), 5))
                      for uid, cores in sorted(missing.items()))
    count = sum(len(cores) for cores in missing.values())
    return _offer(logic, DECODER_REQUIREMENT, offered, _(
        "Cores not converted: {count}. No package in this Slicer decodes their compressed slices:\n\n{lines}"
        "\n\nInstall the decoder {requirement} (GDCM, the library of Slicer's own DICOM reader) from PyPI and "
        "convert just these cores again?").format(count=count, lines=lines, requirement=DECODER_REQUIREMENT))


def _offer(logic, requirement: str, offered: Set[str], question: str) -> bool:
    """Ask once a session; install on "OK".  True when installed."""
    if requirement in offered:
        return False
    offered.add(requirement)
    if not slicer.util.confirmOkCancelDisplay(question, windowTitle=_("Core Batch Loader")):
        return False
    try:
        with slicer.util.tryWithErrorDisplay(_("Could not install {requirement}").format(requirement=requirement),
                                             waitCursor=True):
            logic.installPackage(requirement)
    except Exception:  # shown by tryWithErrorDisplay; the batch goes on without it
        return False
    return True
