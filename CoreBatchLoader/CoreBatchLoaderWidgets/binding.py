"""The panel's GUI connected to its parameter node once per MRML node, on every Slicer release.

Slicer's template connects the GUI in ``setParameterNode`` and undoes it in ``exit()`` and when
the scene closes.  On Slicer 5.4–5.8 ``connectGui`` returns no tag (parameterNodeWrapper/
wrapper.py: ``_connectGui`` drops ``_connectParametersToGui``'s tag), so ``disconnectGui`` cannot
undo a connection; each connection adds GUI connectors and a ModifiedEvent observer on the
node, and the stale combo-box connector writes its first choice back (Route → "fast").  The
module's parameter node is a singleton, which survives a scene close (``vtkMRMLScene::Clear(0)``
keeps singletons): reconnecting it after each close piled connections up.

:class:`GuiBinding` remembers the MRML node the GUI is connected to and connects only another
node; it disconnects (leaving the module, or before another node) only where a tag says how
(5.10+).  Plain Python (no Qt): Testing/test_slicer_module_static.py runs it on slicer-core's
real MRML scene.
"""
from typing import Any, Callable, Optional


class GuiBinding:
    """Which parameter node the panel's widgets are connected to, and how to undo it."""

    def __init__(self) -> None:
        self.node: Any = None  # the MRML node the GUI is connected to (vtkMRMLScriptedModuleNode)
        self.tag: Optional[int] = None  # connectGui's tag; None on 5.4–5.8 (no disconnecting there)
        self._disconnect: Optional[Callable[[int], None]] = None

    def bind(self, node: Any, connect: Callable[[], Optional[int]], disconnect: Callable[[int], None]) -> bool:
        """Connect the GUI to ``node`` (``connect()`` → its tag) unless it is the node already
        connected; True when it connected.  ``disconnect(tag)`` undoes it (:meth:`release`)."""
        if node is None or node is self.node:
            return False
        self.release()
        self.node, self.tag, self._disconnect = node, connect(), disconnect
        return True

    def release(self) -> None:
        """Disconnect where Slicer can (5.10+: a tag); on 5.4–5.8 the connection stays, and
        :meth:`bind` of the same node will not repeat it."""
        if self.node is not None and self.tag is not None and self._disconnect is not None:
            self._disconnect(self.tag)
            self.node, self.tag, self._disconnect = None, None, None


def isSet(path) -> bool:
    """A Path parameter the user has set (an unset one reads as "" or ".")."""
    return str(path) not in ("", ".")
