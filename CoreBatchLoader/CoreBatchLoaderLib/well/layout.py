"""The files of the whole-well scene: every core at its depth, the lot within a memory budget.

After the batch has converted the cores, this writes (all without Slicer)::

    OUTPUT_DIR/scene/<core>.nhdr        the core at full resolution, placed at its depth: a
                                        detached header over the converted file, no copy
    OUTPUT_DIR/scene/<core>_proxy.nrrd  its block mean, when the full cores exceed the budget
    OUTPUT_DIR/scene/overview.nrrd      the whole cored interval at low resolution
    OUTPUT_DIR/scene/placement.json     what went where (for the scene, the Slicer module, people)
    OUTPUT_DIR/scene/<core>_parts.npz   what the core gives the overview and the strip wherever it
                                        lies, for the next move (see "A move reads no volume")
    OUTPUT_DIR/well_strip.png           every core's section against depth, for the report
    OUTPUT_DIR/scene/<core>_unwrap.nhdr the core's unwrap (``unwrap/<core>_unwrap.nrrd``) placed at
                                        its depth as a vertical plane beside the cores, no copy
    OUTPUT_DIR/well_unwrap.png          every core's unwrap against depth, on the strip's scale

and :mod:`..mrml.well` turns that into ``scene.mrml``.

**No copy.**  ``<core>.nhdr`` describes the placed grid and points at ``../<core>.nrrd`` with
``line skip: N`` (N = the lines of that file's own header, blank line included).  NRRD applies
line skip to the file as stored, before decompression, so the same header works for raw and
gzip data; the tests load both with Slicer's storage node and compare voxels.  A core written
as ``.nhdr`` over its DICOM files (``--format nhdr``) gets a placed header over the same DICOM
files.  Depths are written in full (``repr``) as the header's ``space origin`` and as
``corebatchloader_top_m:=…`` key/values: MRML scene files keep 6 significant digits, NRRD
headers keep them all, and Slicer takes a loaded volume's position from the file.

**One pass per core.**  The proxy, the core's share of the overview and its strip section all
come from one streaming read of the converted file (:func:`..nrrd.reader.iter_slices`): memory
is a slice, the overview's sums and the strip, not the core or the well.

**A move reads no volume.**  What that pass gives the overview and the strip does not depend
on the core's depth, only where it lands does: each slice's sums over the overview's in-plane
bins and its smallest voxel, and the strip section.  They are kept beside the scene
(``scene/<core>_parts.npz``, keyed by the volume file, its grid and flip, the overview's bins
and the proxy factor), so applying a depth match (only depths changed) places them at the new
depths and copies each proxy's voxels under a new header: the same files, byte for byte, as a
fresh build at those depths (``Testing/test_depth_match_apply.py``).  Anything else changed —
the volume reconverted, the budget, the overview's voxel size or width — and the core is read.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..dicom.voxel_values import NRRD_TYPES
from ..nrrd.writer import KEY_PREFIX, SOURCE_KEY
from ..files import DISK_FULL, AtomicFile, write_text_atomically
from ..messages import one_line
from ..nrrd.reader import NrrdFormatError, NrrdHeader, iter_slices, read_header
from ..nrrd.writer import NrrdStreamWriter, nrrd_header
from ..record import CoreRecord
from ..report.figure import PillowMissing
from ..report.thumbnails import ROCK_CT_WINDOW, choose_window, read_resampled
from .depths import CoreDepth
from .overview import MAX_VOXELS, CoreLayers, Overview, overview_grid
from .placement import Grid, block_grid, block_padding, depth_to_s, place_core, place_unwrap
from .proxies import ProxyWriter, smallest_factor, volume_bytes
from .strip import WellStrip

SCENE_DIR = "scene"
LAYOUT_NAME = "placement.json"
OVERVIEW_NAME = "overview.nrrd"
STRIP_NAME = "well_strip.png"
UNWRAP_STRIP_NAME = "well_unwrap.png"
UNWRAP_HEADER_SUFFIX = "_unwrap.nhdr"
UNWRAP_GAP_MM = 10.0  # between the widest core and the unwraps in the scene
UNWRAP_STRIP_MAX_WIDTH = 480  # px of well_unwrap.png's picture, beside the strip in the report
PROXY_SUFFIX = "_proxy.nrrd"
PARTS_SUFFIX = "_parts.npz"  # a core's overview sums and strip section, kept for the next move (_place)
PARTS_VERSION = 1  # of what a parts file holds: a change makes every kept one stale
OVERVIEW_SHARE = 8  # the overview takes at most 1/8 of the budget


@dataclass
class PlacedCore:
    """One core in the scene; paths relative to the output folder."""

    name: str
    source: str
    top_m: float
    bottom_m: float
    flip: bool
    factor: int  # 1: the scene shows the full-resolution core
    file: str  # what the scene shows: the placed header or the proxy
    full_file: str  # the full-resolution placed header
    spacing: List[float]  # of the converted core, mm
    type: str
    bytes: int  # voxel bytes of what the scene shows
    s_top_mm: float  # S of the shown volume's top and bottom voxel edges
    s_bottom_mm: float
    sizes: List[int] = field(default_factory=list)  # the shown volume's grid (LPS, as its header)
    directions_lps: List[List[float]] = field(default_factory=list)
    origin_lps: List[float] = field(default_factory=list)
    unwrap_file: Optional[str] = None  # the unwrap's placed header, when the core has an unwrap
    unwrap_radius_mm: Optional[float] = None
    unwrap_sizes: List[int] = field(default_factory=list)
    unwrap_directions_lps: List[List[float]] = field(default_factory=list)
    unwrap_origin_lps: List[float] = field(default_factory=list)

    @property
    def grid(self) -> Grid:
        return Grid(tuple(self.sizes), tuple(tuple(d) for d in self.directions_lps),  # type: ignore[arg-type]
                    tuple(self.origin_lps))  # type: ignore[arg-type]

    @property
    def unwrap_grid(self) -> Grid:
        return Grid(tuple(self.unwrap_sizes), tuple(tuple(d) for d in self.unwrap_directions_lps),  # type: ignore
                    tuple(self.unwrap_origin_lps))  # type: ignore[arg-type]


@dataclass
class WellLayout:
    """What :func:`build_layout` wrote; saved as ``scene/placement.json``."""

    well: str
    budget: int
    factor: int
    fits: bool
    cores: List[PlacedCore] = field(default_factory=list)  # sorted by depth
    overview_file: Optional[str] = None
    overview_voxel_mm: float = 0.0
    overview_bytes: int = 0
    window: List[float] = field(default_factory=lambda: list(ROCK_CT_WINDOW))  # grey (low, high) for all
    strip_file: Optional[str] = None
    unwrap_strip_file: Optional[str] = None  # well_unwrap.png, when any core has an unwrap
    strip_interval_s: List[float] = field(default_factory=list)  # top, bottom S (mm) the strip spans
    strip_rows: List[int] = field(default_factory=list)  # its picture: top row, rows of the interval, height
    warnings: List[str] = field(default_factory=list)
    source_key: str = ""  # what the layout was built from (see scene_key): a rerun reuses it

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "WellLayout":
        known = {f.name for f in fields(PlacedCore)}
        values = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        values["cores"] = [PlacedCore(**{k: v for k, v in core.items() if k in known}) for core in data.get("cores", [])]
        return cls(**values)


def build_layout(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth],
                 budget: int, well_name: str, durable: bool = True, source_key: str = "") -> WellLayout:
    """Write every scene file but ``scene.mrml`` (see the module docstring); returns the layout."""
    output_dir = Path(output_dir)
    scene_dir = output_dir / SCENE_DIR
    layout = WellLayout(well=well_name, budget=int(budget), factor=1, fits=True, source_key=source_key)
    cores = _placeable(output_dir, records, depths, layout.warnings)
    if not cores:
        raise ValueError("no converted core with a depth to place")
    types = {np.dtype(c.header.dtype).newbyteorder("=").name for c in cores}
    overview_type = types.pop() if len(types) == 1 else "float32"
    itemsize = np.dtype(overview_type).itemsize
    top_s = max(c.grid.s_range()[1] for c in cores)
    bottom_s = min(min(c.grid.s_range()[0], depth_to_s(c.depth.bottom_m)) for c in cores)
    grid = overview_grid([c.grid for c in cores], top_s, bottom_s,
                         max(1, min(MAX_VOXELS, budget // OVERVIEW_SHARE // itemsize)))
    layout.overview_voxel_mm = grid.spacing[0]
    layout.overview_bytes = volume_bytes(grid.sizes, itemsize)
    layout.factor, layout.fits = smallest_factor(
        [(c.grid.sizes, c.header.dtype.itemsize) for c in cores], budget - layout.overview_bytes)
    if not layout.fits:
        layout.warnings.append("the scene exceeds the memory budget of %d bytes even with proxies of "
                               "%d × %d × %d voxels per block" % ((budget,) + (layout.factor,) * 3))
    scene_dir.mkdir(exist_ok=True)
    overview = Overview(grid)
    width_mm = max(float(np.ptp(c.grid.ras_bounds()[0])) for c in cores)
    strip = WellStrip(top_s, bottom_s, width_mm, title="%s: long sections at depth" % well_name)
    unwraps = _unwraps(output_dir, cores, layout.warnings)
    unwrap_strip = WellStrip(top_s, bottom_s, max(u.sizes[0] * u.spacing[0] for u in unwraps.values()),
                             max_width=UNWRAP_STRIP_MAX_WIDTH, title="%s: unwrapped surfaces at depth" % well_name,
                             azimuth=True) if unwraps else None
    left_r = max(float(abs(c.grid.ras_bounds()[0]).max()) for c in cores) + UNWRAP_GAP_MM
    for core in cores:
        placed = _place(output_dir, core, layout, well_name, overview, strip, durable)
        unwrap = unwraps.get(core.record.name)
        if unwrap is not None and unwrap_strip is not None:
            _place_unwrap(output_dir, core, placed, unwrap, unwrap_strip, left_r, well_name, durable)
        layout.cores.append(placed)
    layout.overview_file = "%s/%s" % (SCENE_DIR, OVERVIEW_NAME)
    overview.write(output_dir / layout.overview_file, overview_type,
                   {KEY_PREFIX + "well": well_name, KEY_PREFIX + "top_m": repr(-top_s / 1000.0),
                    KEY_PREFIX + "bottom_m": repr(-bottom_s / 1000.0)}, durable)
    layout.window = list(choose_window(overview.sample(), ROCK_CT_WINDOW))
    layout.strip_interval_s = [strip.top_s, strip.bottom_s]
    layout.strip_rows = [strip.top_px, strip.height, strip.picture_height]
    try:
        strip.write(output_dir / STRIP_NAME)
        layout.strip_file = STRIP_NAME
        if unwrap_strip is not None:
            unwrap_strip.write(output_dir / UNWRAP_STRIP_NAME)
            layout.unwrap_strip_file = UNWRAP_STRIP_NAME
    except PillowMissing as exc:  # the scene does not need its pictures
        layout.warnings.append("%s and %s not drawn: %s" % (STRIP_NAME, UNWRAP_STRIP_NAME, exc))
    _remove_stale(scene_dir, layout)
    write_text_atomically(scene_dir / LAYOUT_NAME, json.dumps(layout.to_json(), indent=1) + "\n", durable)
    return layout


def read_layout(output_dir: Path) -> WellLayout:
    """The layout an earlier :func:`build_layout` saved (``scene/placement.json``)."""
    return WellLayout.from_json(json.loads((Path(output_dir) / SCENE_DIR / LAYOUT_NAME).read_text(encoding="utf-8")))


@dataclass
class _Candidate:
    record: CoreRecord
    depth: CoreDepth
    header: NrrdHeader
    grid: Grid  # full resolution, placed


def _placeable(output_dir: Path, records: Sequence[CoreRecord], depths: Mapping[str, CoreDepth],
               warnings: List[str]) -> List[_Candidate]:
    """The converted cores with a depth, sorted by depth; the others named in ``warnings``."""
    found = []
    for record in records:
        if record.status not in ("converted", "skipped") or not record.output:
            warnings.append("%s is not in the scene: it was not converted" % record.name)
            continue
        depth = depths.get(record.name)
        if depth is None:
            warnings.append("%s is not in the scene: it has no depth (its warning says what to write in "
                            "the depth table)" % record.name)
            continue
        try:
            header = read_header(output_dir / record.output)
        except (OSError, NrrdFormatError) as exc:
            warnings.append("%s is not in the scene: %s" % (record.name, one_line(exc, 500)))
            continue
        if header.endian != "little":
            warnings.append("%s is not in the scene: big-endian data" % record.name)
            continue
        found.append(_Candidate(record, depth, header,
                                place_core(header.sizes, header.spacing, depth.top_m, depth.flip)))
    return sorted(found, key=lambda c: (c.depth.top_m, c.record.name))


def _place(output_dir: Path, core: _Candidate, layout: WellLayout, well_name: str, overview: Overview,
           strip: WellStrip, durable: bool) -> PlacedCore:
    """Write the core's placed header (and proxy) and add the core to the overview and strip:
    from its :data:`PARTS_SUFFIX` file when that still describes it (a core only moved), else
    from one streaming read of its volume, keeping those parts for the next move."""
    name, factor = core.record.name, layout.factor
    key_values = {KEY_PREFIX + "well": well_name, KEY_PREFIX + "core": name,
                  KEY_PREFIX + "top_m": repr(float(core.depth.top_m)),
                  KEY_PREFIX + "bottom_m": repr(float(core.depth.bottom_m)),
                  KEY_PREFIX + "flip": "1" if core.depth.flip else "0",
                  SOURCE_KEY: core.record.source}
    full_file = "%s/%s.nhdr" % (SCENE_DIR, name)
    write_placed_header(output_dir / full_file, core.header, core.grid,
                        dict(key_values, **{KEY_PREFIX + "proxy_factor": "1"}), durable)
    shown_grid, shown_file = core.grid, full_file
    section = strip.core(name, core.grid, core.depth.flip)
    layers = overview.core(core.grid)
    padding = block_padding(core.header.sizes, factor, core.depth.flip)
    if factor > 1:
        shown_grid = block_grid(core.grid, factor, padding)
        shown_file = "%s/%s%s" % (SCENE_DIR, name, PROXY_SUFFIX)
        key_values = dict(key_values, **{KEY_PREFIX + "proxy_factor": str(factor),
                                         KEY_PREFIX + "full_resolution": "%s.nhdr" % name})
    parts_path = output_dir / SCENE_DIR / (name + PARTS_SUFFIX)
    key = _parts_key(output_dir, core, layers, overview.bins_per_layer, factor, padding)
    parts = _read_parts(parts_path, key)
    proxy_path = output_dir / shown_file
    if parts is not None and (factor == 1 or _proxy_holds(proxy_path, core, factor, shown_grid)):
        layers.replay(parts["sums"], parts["lows"])
        section.draw(parts["section"])
        if factor > 1:  # the same voxels under a header at the new place
            old = read_header(proxy_path)
            with NrrdStreamWriter(proxy_path, nrrd_type=NRRD_TYPES[core.header.dtype.newbyteorder("=").name],
                                  sizes=shown_grid.sizes,
                                  space_directions=shown_grid.directions_lps, space_origin=shown_grid.origin_lps,
                                  durable=durable, key_values=key_values) as writer:
                for voxels in iter_slices(old):
                    writer.write_slice(voxels)
                writer.commit()
    else:
        consumers: List[Any] = [layers, section]
        with ExitStack() as stack:
            if factor > 1:
                proxy = stack.enter_context(ProxyWriter(proxy_path, core.header.sizes, shown_grid, factor, padding,
                                                        core.header.dtype.newbyteorder("=").name, key_values, durable))
                consumers.append(proxy)
            for voxels in iter_slices(core.header):
                for consumer in consumers:
                    consumer.add(voxels)
            if factor > 1:
                proxy.commit()
        sums, lows = layers.finish()
        drawn = section.finish()
        if drawn is not None and len(sums):
            _write_parts(parts_path, key, sums, lows, drawn, durable, layout.warnings)
    bottom, top = shown_grid.s_range()
    return PlacedCore(name=name, source=core.record.source, top_m=core.depth.top_m, bottom_m=core.depth.bottom_m,
                      flip=core.depth.flip, factor=factor, file=shown_file, full_file=full_file,
                      spacing=list(core.header.spacing), type=core.header.dtype.newbyteorder("=").name,
                      bytes=volume_bytes(core.header.sizes, core.header.dtype.itemsize, factor),
                      s_top_mm=top, s_bottom_mm=bottom, sizes=list(shown_grid.sizes),
                      directions_lps=[list(d) for d in shown_grid.directions_lps],
                      origin_lps=list(shown_grid.origin_lps))


def _parts_key(output_dir: Path, core: _Candidate, layers: CoreLayers, bins: int, factor: int,
               padding: Sequence[int]) -> str:
    """What a core's parts were made from, none of it its depth: its volume as a file (name, size,
    modification time: a reconversion changes them), grid and flip, the overview's in-plane bins
    it falls into (the overview's voxel size and width: the budget and the well's extent), and
    the proxies' block factor and padding."""
    stat = (output_dir / core.record.output).stat()
    return json.dumps([PARTS_VERSION, core.record.output, stat.st_size, stat.st_mtime_ns, list(core.header.sizes),
                       list(core.header.spacing), core.header.type, bool(core.depth.flip), int(factor),
                       [int(p) for p in padding], hashlib.sha1(layers.flat.tobytes()).hexdigest(),
                       int(bins)])


def _read_parts(path: Path, key: str) -> Optional[Dict[str, np.ndarray]]:
    """The arrays of ``path`` when it was made under ``key``; None when missing, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return {name: data[name] for name in ("sums", "lows", "section")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _write_parts(path: Path, key: str, sums: np.ndarray, lows: np.ndarray, section: np.ndarray, durable: bool,
                 warnings: List[str]) -> None:
    """Keep the core's depth-independent parts (:func:`_place`); the slices' sums in float32
    when that holds them exactly (integer voxels: sums of a few hundred of them), else float64."""
    narrow = sums.astype(np.float32)
    if np.array_equal(narrow, sums):
        sums = narrow
    try:
        with AtomicFile(path, durable=durable) as atomic:
            np.savez(atomic.file, key=np.array(key), sums=sums, lows=lows, section=section)
            atomic.commit()
    except OSError as exc:  # only the next move's speed is lost
        if exc.errno in DISK_FULL:
            raise
        warnings.append("%s not kept (the next move reads the volume again): %s" % (path.name, one_line(exc)))


def _proxy_holds(path: Path, core: _Candidate, factor: int, grid: Grid) -> bool:
    """Whether the proxy an earlier layout wrote has this core's blocks (its factor, flip and
    grid size; it is only ever written from the volume its parts were made from)."""
    try:
        header = read_header(path)
    except (OSError, NrrdFormatError):
        return False
    values = header.key_values
    return (values.get(KEY_PREFIX + "proxy_factor") == str(factor) and tuple(header.sizes) == tuple(grid.sizes)
            and values.get(KEY_PREFIX + "flip") == ("1" if core.depth.flip else "0")
            and values.get(SOURCE_KEY) == core.record.source and header.encoding == "raw")


def _unwraps(output_dir: Path, cores: Sequence[_Candidate], warnings: List[str]) -> Dict[str, NrrdHeader]:
    """The headers of the cores' unwraps (``record.unwrap``) that can be read, by core name."""
    found = {}
    for core in cores:
        if not core.record.unwrap:
            continue
        try:
            found[core.record.name] = read_header(output_dir / core.record.unwrap)
        except (OSError, NrrdFormatError) as exc:
            warnings.append("%s: unwrap not in the scene: %s" % (core.record.name, one_line(exc, 500)))
    return found


def _place_unwrap(output_dir: Path, core: _Candidate, placed: PlacedCore, unwrap: NrrdHeader, strip: WellStrip,
                  left_r: float, well_name: str, durable: bool) -> None:
    """The unwrap's placed header (``scene/<core>_unwrap.nhdr``) and its share of well_unwrap.png."""
    name = core.record.name
    grid = place_unwrap(unwrap.sizes, unwrap.spacing, core.depth.top_m, left_r)
    relative = "%s/%s%s" % (SCENE_DIR, name, UNWRAP_HEADER_SUFFIX)
    write_placed_header(output_dir / relative, unwrap, grid, {
        KEY_PREFIX + "well": well_name, KEY_PREFIX + "core": name, KEY_PREFIX + "top_m": repr(float(core.depth.top_m)),
        SOURCE_KEY: core.record.source}, durable)
    placed.unwrap_file, placed.unwrap_radius_mm = relative, core.record.unwrap_radius_mm
    placed.unwrap_sizes, placed.unwrap_origin_lps = list(grid.sizes), list(grid.origin_lps)
    placed.unwrap_directions_lps = [list(d) for d in grid.directions_lps]
    strip.paste(name, core.grid, lambda shape: read_resampled(unwrap, shape)[0],  # in blocks of rows
                width_mm=unwrap.sizes[0] * unwrap.spacing[0])


def write_placed_header(target: Path, source: NrrdHeader, grid: Grid, key_values: Dict[str, str],
                        durable: bool = True) -> Path:
    """A detached header placing ``source``'s voxels on ``grid`` without copying them.

    Attached data (``.nrrd``): ``line skip`` over the source's header lines, ``data file`` its
    name relative to ``target``.  Detached data (an ``.nhdr`` over DICOM files): the same data
    files and byte skip as the source.
    """
    if source.data_files:
        data_files = [os.path.abspath(f) for f in source.data_files]
        byte_skip, line_skip = source.byte_skip, None
    else:
        with open(source.path, "rb") as stream:
            line_skip = stream.read(source.data_offset).count(b"\n")
        data_files = [os.path.relpath(source.path, target.parent).replace(os.sep, "/")]
        byte_skip = None
    text = nrrd_header(nrrd_type=source.type, sizes=grid.sizes, space_directions=grid.directions_lps,
                       space_origin=grid.origin_lps, encoding=source.encoding, data_files=data_files,
                       byte_skip=byte_skip, line_skip=line_skip, key_values=key_values)
    write_text_atomically(target, text, durable=durable)
    return target


def _remove_stale(scene_dir: Path, layout: WellLayout) -> None:
    """Delete placed headers and proxies of an earlier layout that this one does not use."""
    current = {Path(f).name for c in layout.cores for f in (c.file, c.full_file, c.unwrap_file) if f}
    current |= {c.name + PARTS_SUFFIX for c in layout.cores}
    for entry in scene_dir.iterdir():
        ours = entry.name.endswith((".nhdr", PROXY_SUFFIX, PARTS_SUFFIX))
        if ours and entry.name not in current and entry.is_file():
            try:
                entry.unlink()
            except OSError:
                pass
