"""CoreBatchLoaderWidgets: the Slicer module's panel sections and GUI helpers, beside CoreBatchLoader.py.

Slicer-side code (it may import ``slicer``, ``qt``, ``ctk``), kept in a package because Slicer's
scripted module factory loads every ``.py`` file in the module folder as a module of its own
(qSlicerScriptedLoadableModuleFactory::isValidFile): a helper file there would fail to load as
one.  The rules a section follows are in docs/slicer.md ("Adding a panel section"): its own
class and file here, bound to the module's one parameter node, ``tr()`` strings, the engine
imported inside the methods that run a batch.
"""
