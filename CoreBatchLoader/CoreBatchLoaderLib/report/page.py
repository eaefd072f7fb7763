"""The batch report people look at: ``report.html`` and ``manifest.csv`` in the output folder.

``manifest.json`` is for programs (resuming); these two are for people: the HTML opens from disk
in any browser (inline CSS, a few lines of inline script, no network), the CSV opens in a
spreadsheet.  Both list one row per core, failures first in the HTML so they cannot be missed.

Pictures are PNG files in ``thumbnails/`` next to the report, referenced by relative links,
rather than base64 inside the HTML: a batch of several hundred cores would make a report of tens
of MB that browsers parse slowly, and files let a rerun reuse pictures that are newer than their
NRRD.  The report and its ``thumbnails/`` folder travel together with the NRRD files.

Nothing here fails the batch: a core whose picture cannot be drawn gets a warning in its row.
Files are replaced atomically, so a reader sees the previous report or the new one.  Call it
while holding the output folder's lock (as the batch does): it clears stale temporary pictures.
"""
from __future__ import annotations

import csv
import html
import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from .. import __version__
from ..analysis.surroundings import excluded_ranges
from ..files import PARTIAL_SUFFIX, write_text_atomically
from ..messages import first_few, human_bytes, one_line, printable_line, throughput, throughput_text
from ..record import CoreRecord
from .log_svg import core_profile
from .thumbnails import ROCK_CT_WINDOW, core_thumbnail
from .unwrap_picture import unwrap_picture

REPORT_NAME = "report.html"
CSV_NAME = "manifest.csv"
THUMBNAIL_DIR = "thumbnails"
CSV_FIELDS = ("name", "status", "top_m", "bottom_m", "flip", "dimensions", "spacing_mm", "size_mb", "type",
              "seconds", "kvp", "tube_current_ma", "exposure_mas", "kernel", "manufacturer", "model",
              "acquisition_date", "warnings", "error", "output", "source") + (
              "air", "liner_hu", "fill_hu", "mask_hu", "core_min_hu", "core_max_hu", "surroundings")
SCAN_FIELDS = ("kvp", "tube_current_ma", "exposure_mas", "kernel", "manufacturer", "model", "acquisition_date")
SURROUNDINGS_FIELDS = ("air", "liner_hu", "fill_hu", "mask_hu", "core_min_hu", "core_max_hu")  # the record's
# surroundings (analysis.surroundings), a cell each, then its text
STATUS_ORDER = {"failed": 0}  # failures first; the rest keep the batch's order


@dataclass(frozen=True)
class Picture:
    """A core's thumbnail and unwrap picture (relative to the output folder) or why there is none."""

    relative: Optional[str] = None
    warning: Optional[str] = None
    unwrap: Optional[str] = None


@dataclass(frozen=True)
class Totals:
    cores: int
    converted: int
    skipped: int
    failed: int
    warnings: int
    bytes: int  # voxel data of every core in the output (converted + skipped)
    converted_bytes: int
    seconds: float
    wall_clock: bool  # seconds is the batch's elapsed time, not the sum of the cores' times
    converting_seconds: Optional[float] = None  # the batch's time until its last core folder finished

    @property
    def rate_seconds(self) -> float:
        """The time the throughput is over: the conversion's when known, else ``seconds``."""
        return self.seconds if self.converting_seconds is None else self.converting_seconds

    @property
    def throughput(self) -> Optional[float]:
        """Bytes per second of the cores converted in this run (:func:`..messages.throughput`:
        the progress bar's figure)."""
        return throughput(self.converted_bytes, self.rate_seconds)


def write_report(output_dir: Union[str, Path], records: Sequence[CoreRecord], *, title: Optional[str] = None,
                 elapsed_seconds: Optional[float] = None, well_strip: Optional[Path] = None,
                 stopped: Optional[str] = None, well_unwrap: Optional[Path] = None,
                 durable: bool = True, log_track: Optional[Path] = None,
                 top_last: Collection[str] = (), tops: Optional[Mapping[str, float]] = None,
                 warnings: Sequence[str] = (), planes_track: Optional[Path] = None,
                 correlation: Optional[Path] = None, converting_seconds: Optional[float] = None,
                 notes: Optional[List[str]] = None) -> Path:
    """Write ``report.html``, ``manifest.csv`` and the thumbnails; returns the report's path.

    ``elapsed_seconds``: the batch's wall-clock time, for the totals and throughput (with
    parallel workers the sum of per-core times overstates it); without it, that sum is shown.
    ``well_strip``: the picture of the whole well (:mod:`..well.strip`), shown above the cores.
    ``stopped``: why the batch stopped before the end (a full output disk), shown on top.
    ``well_unwrap``: every core's unwrapped surface at its depth, beside the strip.
    ``durable``: fsync the page and the CSV (``--no-fsync`` says not to).
    ``log_track``: the well's CT log track (:mod:`.log_svg`), beside the strip; without it each
    core with a CT log gets a small profile in its row.
    ``top_last``: the cores whose top is their last slice (flipped by the depth table).
    ``tops``: the depth (m) of each core's top, by name (their pictures' depth axes in metres).
    ``warnings``: about the batch, not one core (cores scanned with other kVp or kernels), on top.
    ``planes_track``: the well's tadpole track (:mod:`.tadpoles`), beside the CT log track.
    ``correlation``: the depth match's correlation picture (:mod:`.correlation_svg`), when there is one.
    ``converting_seconds``: the batch's time until its last core folder finished, for the
    throughput (the progress bar's figure; without it, over ``elapsed_seconds``).
    ``notes``: gets one line for the console when pictures could not be drawn (a read-only
    ``thumbnails/``): the report says it on each core's row, where nobody looks for it.
    """
    output_dir = Path(output_dir)
    pictures = make_thumbnails(output_dir, records, top_last, tops)
    if notes is not None:
        notes.extend(pictures_not_drawn(records, pictures))
    write_manifest_csv(output_dir, records, durable)
    strip, unwrap, track, tadpoles = (Path(os.path.relpath(p, output_dir)).as_posix() if p else None
                                      for p in (well_strip, well_unwrap, log_track, planes_track))
    profiles = {} if track else core_profiles(output_dir, records, durable)
    page = render_html(records, pictures, summarize(records, elapsed_seconds, converting_seconds),
                       title or "Core conversion report: %s" % output_dir.name, str(output_dir.resolve()), strip,
                       stopped, unwrap, track, profiles, warnings, tadpoles,
                       Path(os.path.relpath(correlation, output_dir)).as_posix() if correlation else None)
    path = output_dir / REPORT_NAME
    write_text_atomically(path, page, durable)
    return path


def ordered(records: Sequence[CoreRecord]) -> List[int]:
    """Indices of ``records`` with failures first, otherwise in the given order."""
    return sorted(range(len(records)), key=lambda n: STATUS_ORDER.get(records[n].status, 1))


def summarize(records: Sequence[CoreRecord], elapsed_seconds: Optional[float] = None,
              converting_seconds: Optional[float] = None) -> Totals:
    converted = [r for r in records if r.status == "converted"]
    present = [r for r in records if r.status in ("converted", "skipped")]
    seconds = elapsed_seconds if elapsed_seconds is not None else sum(r.seconds for r in converted)
    return Totals(cores=len(records), converted=len(converted),
                  skipped=sum(r.status == "skipped" for r in records),
                  failed=sum(r.status == "failed" for r in records),
                  warnings=sum(len(r.warnings) for r in records),
                  bytes=sum(r.bytes for r in present), converted_bytes=sum(r.bytes for r in converted),
                  seconds=float(seconds), wall_clock=elapsed_seconds is not None,
                  converting_seconds=converting_seconds)


# ---------------------------------------------------------------------------------------------
# Thumbnails


def pictures_not_drawn(records: Sequence[CoreRecord], pictures: Sequence[Picture]) -> List[str]:
    """One line for the cores whose picture could not be drawn: how many, which, the first reason."""
    missing = [(record.name, picture.warning) for record, picture in zip(records, pictures)
               if picture.warning and "not drawn" in picture.warning]
    if not missing:
        return []
    return ["%d core picture%s not drawn (%s): %s" % (len(missing), "" if len(missing) == 1 else "s",
                                                     first_few([name for name, _ in missing]), missing[0][1])]


def make_thumbnails(output_dir: Path, records: Sequence[CoreRecord], top_last: Collection[str] = (),
                    tops: Optional[Mapping[str, float]] = None) -> List[Picture]:
    """One :class:`Picture` per record (same order); draws only what is missing or stale."""
    folder = output_dir / THUMBNAIL_DIR
    _remove_partials(folder)
    return [_picture(output_dir, folder, record, record.name in top_last, (tops or {}).get(record.name))
            for record in records]


def draw_thumbnail(output_dir: Path, record: CoreRecord, top_last: bool = False, top_m: Optional[float] = None,
                   redraw: bool = False) -> None:
    """Draw one core's picture now (a batch worker, right after converting it: from the planes
    kept while converting, ``record.kept_section``, else from the file while its data is still in
    the page cache); the report then finds it fresh and only links it.  ``redraw``: even when it
    is fresh (a core moved to another depth: its depth axis changed, its file did not)."""
    _picture(Path(output_dir), Path(output_dir) / THUMBNAIL_DIR, record, top_last, top_m, redraw)


def _picture(output_dir: Path, folder: Path, record: CoreRecord, top_last: bool = False,
             top_m: Optional[float] = None, redraw: bool = False) -> Picture:
    if record.status not in ("converted", "skipped") or not record.output:
        return Picture()
    unwrap, unwrap_warning = _unwrap_picture(output_dir, record)
    nrrd = output_dir / record.output
    png = folder / (Path(record.output).stem + ".png")
    relative = "%s/%s" % (THUMBNAIL_DIR, png.name)
    try:
        if not nrrd.exists():
            return Picture(warning="thumbnail: output %s not found" % record.output, unwrap=unwrap)
        if redraw or not _fresh(png, nrrd):
            folder.mkdir(exist_ok=True)
            core_thumbnail(nrrd, png, top_last=top_last, kept=record.kept_section, top_m=top_m,
                           background=excluded_ranges(record.surroundings))
        return Picture(relative, unwrap_warning, unwrap)
    except Exception as exc:  # a picture is never worth failing the report
        return Picture(warning="thumbnail not drawn: %s" % one_line(exc), unwrap=unwrap)


def _unwrap_picture(output_dir: Path, record: CoreRecord) -> Tuple[Optional[str], Optional[str]]:
    """(``unwrap/<core>_unwrap.png`` beside the core's unwrap, or None; a warning or None)."""
    if not record.unwrap:
        return None, None
    nrrd = output_dir / record.unwrap
    relative = str(Path(record.unwrap).with_suffix(".png").as_posix())
    try:
        if not _fresh(output_dir / relative, nrrd):
            unwrap_picture(nrrd, output_dir / relative)
        return relative, None
    except Exception as exc:  # a picture is never worth failing the report
        return None, "unwrap picture not drawn: %s" % one_line(exc)


def core_profiles(output_dir: Path, records: Sequence[CoreRecord], durable: bool = True) -> Dict[str, str]:
    """Core name → its CT log profile (``logs/<core>.svg``, relative), drawn where missing or
    older than the log."""
    profiles = {}
    for record in records:
        if record.status not in ("converted", "skipped") or not record.ct_log:
            continue
        log = output_dir / record.ct_log
        svg = log.with_suffix(".svg")
        try:
            if _fresh(svg, log) or core_profile(log, svg, record.name, durable) is not None:
                profiles[record.name] = Path(os.path.relpath(svg, output_dir)).as_posix()
        except Exception:  # a profile is never worth failing the report
            continue
    return profiles


def _fresh(png: Path, nrrd: Path) -> bool:
    """The picture exists and was drawn after the NRRD was last written (resumed batch)."""
    try:
        return png.stat().st_mtime_ns > nrrd.stat().st_mtime_ns
    except OSError:
        return False


def _remove_partials(folder: Path) -> None:
    """Temporary pictures left by a killed run (the caller holds the output folder's lock)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX):
            try:
                entry.unlink()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# manifest.csv


def write_manifest_csv(output_dir: Path, records: Sequence[CoreRecord], durable: bool = True) -> Path:
    """One row per core, in the batch's order; numbers exact (``repr``), lists joined."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_FIELDS)
    for record in records:
        writer.writerow(csv_row(record))
    path = Path(output_dir) / CSV_NAME
    write_text_atomically(path, text.getvalue(), durable)
    return path


def csv_row(record: CoreRecord) -> Tuple[str, ...]:
    """The record's row under :data:`CSV_FIELDS`; an unknown value is an empty cell."""
    return ((_cell(record.name), record.status, _number(record.top_m), _number(record.bottom_m),
             "" if record.flip is None else "yes" if record.flip else "no",
             "x".join(str(v) for v in record.dimensions) if record.dimensions else "",
             "x".join(repr(float(v)) for v in record.spacing) if record.spacing else "",
             "%.6f" % (record.bytes / 1e6) if record.bytes else "",  # exact to the byte
             record.type or "", "%.3f" % record.seconds)
            + tuple(_number(v) if isinstance(v, float) else _cell(v or "") for v in (
                getattr(record, name) for name in SCAN_FIELDS))
            + (_cell(" | ".join(record.warnings)), _cell(record.error or ""), _cell(record.output or ""),
               _cell(record.source))
            + _surroundings_cells(record))


def _number(value: Optional[float]) -> str:
    """Every digit (``repr``), or an empty cell."""
    return "" if value is None else repr(float(value))


def _surroundings_cells(record: CoreRecord) -> Tuple[str, ...]:
    """What surrounds the core and the CT range taken as core (empty without a CT log)."""
    found = record.surroundings or {}
    cells = []
    for name in SURROUNDINGS_FIELDS:
        value = found.get(name)
        cells.append("" if value is None else ("yes" if value else "no") if isinstance(value, bool) else repr(value))
    return tuple(cells) + (_cell(str(found.get("text") or "")),)


def _cell(text: str) -> str:
    """One printable line (a folder's name may hold a line break, or bytes that are not UTF-8);
    text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    text = printable_line(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# ---------------------------------------------------------------------------------------------
# report.html


def render_html(records: Sequence[CoreRecord], pictures: Sequence[Picture], totals: Totals, title: str,
                location: str = "", well_strip: Optional[str] = None, stopped: Optional[str] = None,
                well_unwrap: Optional[str] = None, log_track: Optional[str] = None,
                profiles: Optional[Dict[str, str]] = None, warnings: Sequence[str] = (),
                planes_track: Optional[str] = None,
                correlation: Optional[str] = None) -> str:
    """The page; ``pictures`` aligned with ``records``; ``location``: the output folder shown;
    ``well_strip``, ``log_track``, ``planes_track``: the whole-well pictures, relative to the
    report; ``stopped``: why the batch ended early; ``profiles``: core name → its CT log profile;
    ``warnings``: about the batch, each a line on top."""
    rows = "\n".join(_row(records[n], pictures[n], (profiles or {}).get(records[n].name))
                     for n in ordered(records))
    return _PAGE.format(
        title=_e(title), location=_e(location), css=_CSS, script=_SCRIPT, cards=_cards(totals), rows=rows or _EMPTY,
        strip=_well_html(well_strip, log_track, well_unwrap, planes_track) + _correlation_html(correlation),
        stopped=('<p class="stopped">The batch stopped before the end: %s</p>\n' % _e(stopped) if stopped else "")
        + "".join('<p class="batch-warning">%s</p>\n' % _e(w) for w in warnings),
        generated=_e(time.strftime("%Y-%m-%d %H:%M")), version=_e(__version__),
        window=("%d to %d HU" % ROCK_CT_WINDOW).replace("-", "\u2212"))


def _cards(totals: Totals) -> str:
    cards = [
        ("Cores", str(totals.cores), ""),
        ("Converted", str(totals.converted), "converted" if totals.converted else ""),
        ("Skipped", str(totals.skipped), ""),
        ("Failed", str(totals.failed), "failed" if totals.failed else ""),
        ("Warnings", str(totals.warnings), "warned" if totals.warnings else ""),
        ("Data", human_bytes(totals.bytes), ""),
        ("Time", human_seconds(totals.seconds) + ("" if totals.wall_clock else " *"), ""),
        # the rate of this run's conversions: the skipped cores' data (in "Data") took no time
        ("Throughput (converted)" if totals.skipped else "Throughput",
         throughput_text(totals.converted_bytes, totals.rate_seconds), ""),
    ]
    return "\n".join('<div class="card %s"><div class="n">%s</div><div class="l">%s</div></div>' % (
        kind, _e(value), _e(label)) for label, value, kind in cards)


def _row(record: CoreRecord, picture: Picture, profile: Optional[str] = None) -> str:
    status = record.status if record.status in ("converted", "skipped", "failed") else "failed"
    profile_html = ('<a href="%s"><img class="profile" src="%s" alt="%s: CT log along the core"></a>' % (
        _e(quote(profile)), _e(quote(profile)), _e(record.name)) if profile else "")
    cells = [
        '<td class="pic">%s%s</td>' % (_picture_html(record, picture), profile_html),
        '<td class="core"><div class="name">%s</div>%s%s<div class="path" title="%s">%s</div></td>' % (
            _e(record.name), _output_html(record), _surroundings_html(record), _e(record.source), _e(record.source)),
        '<td><span class="badge %s">%s</span></td>' % (status, _e(record.status)),
        '<td class="num depth">%s</td>' % _depth_html(record),
        '<td class="num" title="columns × rows × slices">%s</td>' % _triple(record.dimensions, "%d"),
        '<td class="num">%s</td>' % _triple(record.spacing, "%.4g"),
        '<td class="num">%s</td>' % (_e(human_bytes(record.bytes)) if record.bytes else "—"),
        '<td>%s</td>' % _e(record.type or "—"),
        '<td class="num">%s</td>' % (_e(human_seconds(record.seconds)) if record.status == "converted" else "—"),
        '<td class="scan">%s</td>' % _scan_html(record),
        '<td class="msgs">%s</td>' % _messages_html(record, picture),
    ]
    warned = status != "failed" and (record.warnings or picture.warning)
    return '<tr class="%s%s">%s</tr>' % (status, " warned" if warned else "", "".join(cells))


def _picture_html(record: CoreRecord, picture: Picture) -> str:
    if not picture.relative:
        return '<div class="nopic">no picture</div>'
    url = _e(quote(picture.relative))
    html_text = ('<a href="%s"><img src="%s" alt="%s: long section and axial slice" decoding="async"></a>'
                 % (url, url, _e(record.name)))
    if picture.unwrap:
        unwrap_url = _e(quote(picture.unwrap))
        html_text += ('<a href="%s"><img class="unwrap" src="%s" alt="%s: unwrapped surface" decoding="async" '
                      'title="unwrapped at r = %s mm; angle from +i toward +j, top of the core up"></a>'
                      % (unwrap_url, unwrap_url, _e(record.name), _e("%g" % (record.unwrap_radius_mm or 0))))
    return '<div class="pics">%s</div>' % html_text


def _depth_html(record: CoreRecord) -> str:
    """Top and bottom in metres, and whether the scan was flipped to put its top up."""
    if record.top_m is None or record.bottom_m is None:
        return "—"
    text = "%s<br>%s" % (_e("%.3f" % record.top_m), _e("%.3f" % record.bottom_m))
    return text + ('<div class="flip" title="scanned bottom to top: the depth table or --flip-all turned it">'
                   'flipped</div>' if record.flip else "")


def _scan_html(record: CoreRecord) -> str:
    """How the core was scanned, one setting a line: kVp, current and exposure, kernel, scanner,
    date (what the files say; "—" when they say nothing)."""
    readings = ((record.kvp, "%g kVp"), (record.tube_current_ma, "%g mA"), (record.exposure_mas, "%g mAs"))
    lines = [" · ".join(unit % value for value, unit in readings if value is not None),
             "kernel %s" % record.kernel if record.kernel else "",
             " ".join(v for v in (record.manufacturer, record.model) if v), record.acquisition_date or ""]
    shown = [_e(line) for line in lines if line]
    return "<br>".join(shown) if shown else "—"


def _output_html(record: CoreRecord) -> str:
    if not record.output:
        return ""
    return '<div class="file"><a href="%s">%s</a></div>' % (_e(quote(record.output)), _e(record.output))


def _surroundings_html(record: CoreRecord) -> str:
    """One line under the core's name: what surrounds it and the CT range taken as core."""
    text = (record.surroundings or {}).get("text")
    if not text:
        return ""
    return ('<div class="around" title="what surrounds the core in the scan, and the CT numbers taken as core">'
            '%s</div>' % _e(re.sub(r"-(?=\d)", "\u2212", str(text))))  # minus signs, not hyphens


def _messages_html(record: CoreRecord, picture: Picture) -> str:
    items = []
    if record.error:
        items.append('<li class="error">%s</li>' % _e(record.error))
    for warning in list(record.warnings) + ([picture.warning] if picture.warning else []):
        items.append('<li class="warning">%s</li>' % _e(warning))
    return '<ul>%s</ul>' % "".join(items) if items else ""


def _triple(values: Optional[Sequence[float]], fmt: str) -> str:
    if not values:
        return "—"
    return " × ".join(_e(fmt % v) for v in values)


def human_seconds(seconds: float) -> str:
    if seconds < 10:
        return "%.2f s" % seconds
    if seconds < 60:
        return "%.1f s" % seconds
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return "%d min %02d s" % (minutes, rest)
    hours, minutes = divmod(minutes, 60)
    return "%d h %02d min" % (hours, minutes)


def _e(text: object) -> str:
    """``text`` escaped for HTML, as one printable line (a folder's name may hold a line break
    or a terminal's escape character, which HTML calls a parse error)."""
    return html.escape(printable_line(str(text)), quote=True)


def _well_html(strip: Optional[str], track: Optional[str], unwrap: Optional[str],
               tadpoles: Optional[str] = None) -> str:
    """The well section: the strip, the CT log track, the planes' tadpoles and the well's unwrap
    side by side, on one depth scale (the pictures have the same height)."""
    if not strip and not track:
        return ""
    pictures, notes = [], []
    if strip:
        pictures.append(_WELL_PICTURE.format(url=_e(quote(strip)), alt="Well strip: every core's longitudinal "
                                             "section at its depth"))
        notes.append(_STRIP_TEXT)
    if track:
        pictures.append(_WELL_PICTURE.format(url=_e(quote(track)), alt="CT log of the well: mean CT number with "
                                             "its P10-P90 band, and the core diameter, against depth"))
        notes.append(_LOG_TEXT)
    if tadpoles:
        pictures.append(_WELL_PICTURE.format(url=_e(quote(tadpoles)), alt="Planes of the well: one tadpole a bed or "
                                             "fracture, at its dip (0-90°) and depth, its tail toward its azimuth"))
        notes.append(_TADPOLE_TEXT)
    if unwrap:
        pictures.append(_WELL_PICTURE.format(url=_e(quote(unwrap)), alt="Well unwrap: every core's unwrapped "
                                             "surface at its depth"))
        notes.append(_UNWRAP_TEXT)
    return _STRIP.format(pictures="".join(pictures), notes="".join(notes))


def _correlation_html(picture: Optional[str]) -> str:
    if not picture:
        return ""
    return _CORRELATION.format(picture=_WELL_PICTURE.format(url=_e(quote(picture)), alt=(
        "Depth match: the wireline curve and the CT pseudo-log before and after the shifts")))


_WELL_PICTURE = '<a href="{url}"><img src="{url}" alt="{alt}"></a>'
_CORRELATION = """<section class="strip"><h2>Cores on log depth</h2>
<div class="well-pictures">{picture}</div>
<p>The depth match (depth_match/depth_shifts.csv): the wireline curve (black) and each core's CT
pseudo-log smoothed to the tool's response (blue), at the driller's depths (left) and shifted to log
depth (right); cores outlined, ambiguous ones (featureless: kept at their neighbours' shift) in orange.</p>
</section>
"""
_STRIP = """<section class="strip"><h2>The well</h2>
<div class="well-pictures">{pictures}</div>
<p>{notes}Click a picture to open it full size.</p></section>
"""
_STRIP_TEXT = """Longitudinal section through the middle of every core at its depth (metres on the left); orange lines
mark core tops and bottoms, hatching the intervals without core. """
_LOG_TEXT = """The CT log (well_ct_log.las): mean CT number of the rock in each slice with its 10th–90th
percentile band, and the core's equivalent diameter; breaks where there is no core. """
_TADPOLE_TEXT = """The planes (well_planes.csv): one tadpole a bed (filled) or fracture (open), the dot at its dip
on a 0–90° scale, the tail toward its dip azimuth (up = 0°, the core's own +i, clockwise). """
_UNWRAP_TEXT = """Beside it, on the same depth scale, each core's outer surface unwrapped about its axis
(angle from the scan's +i toward +j, left to right): a planar bed or fracture is a sinusoid whose
amplitude is r&middot;tan(dip) and whose deepest point is the dip direction. """

_EMPTY = '<tr><td colspan="11" class="empty">No cores found.</td></tr>'

# The script only reports, for tests and for the curious: how many pictures loaded.
_SCRIPT = """window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var n = 0; n < images.length; n++) {
    if (images[n].complete && images[n].naturalWidth > 0) { loaded++; }
    else { images[n].parentNode.parentNode.className += " broken"; }
  }
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-total", String(images.length));
});"""

_CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa;
  --ok:#0f7b3f; --okbg:#e3f6ea; --fail:#b42318; --failbg:#fdecea; --warn:#8a5300; --warnbg:#fff4d6; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header { background:#1f2933; color:#fff; padding:18px 32px; }
h1 { margin:0; font-size:20px; font-weight:600; }
header .sub { color:#cbd2d9; font-size:12.5px; margin-top:2px; }
main { padding:20px 32px 32px; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:20px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:112px; }
.card .n { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.card .l { color:var(--muted); font-size:11.5px; text-transform:uppercase; letter-spacing:.05em; }
.card.converted .n { color:var(--ok); }
.card.failed { background:var(--failbg); border-color:#f3b8b1; } .card.failed .n { color:var(--fail); }
.card.warned .n { color:var(--warn); }
table { width:100%; border-collapse:separate; border-spacing:0; background:#fff;
  border:1px solid var(--line); border-radius:8px; }
th { position:sticky; top:0; z-index:1; background:#eef1f4; color:var(--muted); text-align:left;
  font-size:11.5px; font-weight:600; text-transform:uppercase; letter-spacing:.05em;
  padding:8px 12px; border-bottom:1px solid var(--line); white-space:nowrap; }
th:first-child { border-top-left-radius:8px; } th:last-child { border-top-right-radius:8px; }
td { padding:10px 12px; border-bottom:1px solid var(--line); vertical-align:top; }
tr:last-child td { border-bottom:0; }
td.num { text-align:right; white-space:nowrap; font-variant-numeric:tabular-nums; }
th.num { text-align:right; }
tr.failed td { background:#fffafa; }
tr.failed td:first-child { box-shadow:inset 4px 0 0 var(--fail); }
tr.warned td:first-child { box-shadow:inset 4px 0 0 #e0a100; }
.name { font-weight:600; font-size:15px; }
.file a { color:#1f5fbf; text-decoration:none; font-size:12.5px; } .file a:hover { text-decoration:underline; }
td.core { min-width:240px; max-width:320px; }
.path { color:var(--muted); font-size:12px; overflow-wrap:anywhere; margin-top:2px; }
.around { font-size:12px; margin-top:2px; }
.badge { display:inline-block; padding:2px 9px; border-radius:999px; font-size:12px; font-weight:600; }
.badge.converted { color:var(--ok); background:var(--okbg); }
.badge.skipped { color:#3e4c59; background:#e4e7eb; }
.badge.failed { color:#fff; background:var(--fail); }
td.pic { width:1%; padding:6px 10px; }
.pics { display:flex; gap:8px; align-items:flex-start; }
td.pic img { display:block; height:120px; width:auto; max-width:none; border-radius:3px; }
.nopic { width:120px; height:60px; display:flex; align-items:center; justify-content:center;
  color:var(--muted); font-size:12px; border:1px dashed #cbd2d9; border-radius:4px; }
td.msgs { min-width:220px; }
td.msgs ul { margin:0; padding:0; list-style:none; }
td.msgs li { margin:0 0 4px; padding:3px 8px; border-radius:4px; font-size:12.5px; word-break:break-word; }
td.msgs li.error { color:var(--fail); background:var(--failbg); font-weight:600; }
td.msgs li.warning { color:var(--warn); background:var(--warnbg); }
.empty { text-align:center; color:var(--muted); padding:24px; }
.stopped { color:var(--fail); background:var(--failbg); border:1px solid var(--fail); border-radius:8px;
  padding:10px 16px; margin:0 0 16px; font-weight:600; }
.batch-warning { color:var(--warn); background:var(--warnbg); border:1px solid #e0a100; border-radius:8px;
  padding:10px 16px; margin:0 0 16px; }
td.depth .flip { color:var(--warn); font-size:12px; font-weight:600; }
td.scan { color:var(--muted); font-size:12.5px; white-space:nowrap; }
.strip { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin-bottom:20px; }
.well-pictures { display:flex; gap:16px; align-items:flex-start; }
.strip h2 { margin:0 0 8px; font-size:15px; } .strip img { display:block; max-height:640px; width:auto; }
.strip p { color:var(--muted); font-size:12.5px; margin:8px 0 0; }
td.pic img.profile { display:inline-block; height:120px; margin-left:6px; vertical-align:top; }
td.pic a { display:inline-block; vertical-align:top; }
footer { color:var(--muted); font-size:12px; margin-top:16px; line-height:1.6; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header><h1>{title}</h1><div class="sub">{location} · generated {generated} by CoreBatchLoader {version}</div></header>
<main>
{stopped}<section class="cards">
{cards}
</section>
{strip}<table>
<thead><tr><th>Picture</th><th>Core</th><th>Status</th><th class="num" title="top and bottom in the depth table">Depth (m)</th>
<th class="num">Dimensions</th><th class="num">Spacing (mm)</th><th class="num">Size</th><th>Type</th>
<th class="num">Time</th><th>Scan</th><th>Errors and warnings</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<footer>
Failed cores are listed first. Dimensions: columns × rows × slices; spacing along the same axes.
Size: voxel data (MB = 10<sup>6</sup> bytes). Time: conversion time of each core in this run
(* in the totals: sum of the cores' times). Throughput: the data this run converted over the time
until its last core folder finished (the progress bar's figure; the well steps and this report
came after). Depth: top and bottom along the hole from the depth
table, "flipped" when the scan ran bottom to top. Scan: as the DICOM headers state it — tube
voltage, current and exposure (their median over the slices), reconstruction kernel, scanner,
acquisition date; cores scanned otherwise than the others are named on top (their CT numbers are
not comparable).<br>
Pictures: longitudinal section through the middle row of every slice (left; the core's top on top)
and the middle axial slice (right), aspect true to the spacing; orange ticks mark where each plane
cuts the other. Grey levels: {window} (air black), or the 0.5–99.5th percentiles when the values are
not in Hounsfield units. Click a picture to open it full size.
</footer>
</main>
<script>
{script}
</script>
</body>
</html>
"""
