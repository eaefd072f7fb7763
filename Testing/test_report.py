"""The report: NRRD planes read with bounded memory, PNG encoding, thumbnails, report.html, manifest.csv."""
from __future__ import annotations

import csv
import math
import os
import re
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import nrrd
import numpy as np
import pytest
from conftest import convert_tree
from CoreBatchLoaderLib.defaults import DEFAULT_RADIUS_TEXT
from CoreBatchLoaderLib.batch.run import BatchOptions, run_batch
from CoreBatchLoaderLib.files import foreign_files_replaceable
from CoreBatchLoaderLib.nrrd.reader import NrrdFormatError, read_header, read_row_section, read_slice
from CoreBatchLoaderLib.nrrd.writer import NrrdStreamWriter, nrrd_header
from CoreBatchLoaderLib.record import CoreRecord
from CoreBatchLoaderLib.report import thumbnails
from CoreBatchLoaderLib.report.page import CSV_FIELDS, summarize, write_report
from CoreBatchLoaderLib.report.png import encode_png, write_png
from CoreBatchLoaderLib.report.thumbnails import choose_window, core_thumbnail, fit
from CoreBatchLoaderLib.synthetic import write_core_series, write_well
from CoreBatchLoaderLib.well.options import SceneOptions

DIRECTIONS = ((0.4, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 1.25))


def random_volume(slices: int = 7, rows: int = 5, columns: int = 6, dtype: str = "int16") -> np.ndarray:
    """(slices, rows, columns): every voxel different, so a wrong offset shows."""
    return np.random.default_rng(7).integers(-1000, 3000, size=(slices, rows, columns)).astype(dtype)


def write_nrrd(path: Path, volume: np.ndarray, *, compress: bool = False,
               directions: Sequence[Sequence[float]] = DIRECTIONS) -> Path:
    types = {"int16": "short", "uint16": "ushort", "float32": "float", "uint8": "uchar"}
    slices, rows, columns = volume.shape
    with NrrdStreamWriter(path, nrrd_type=types[str(volume.dtype)], sizes=(columns, rows, slices),
                          space_directions=directions, space_origin=(1.0, -2.5, 30.0),
                          compress=compress, durable=False) as writer:
        for plane in volume:
            writer.write_slice(plane)
        writer.commit()
    return path


def decode_png(data: bytes) -> Tuple[dict, np.ndarray]:
    """An independent reader for the PNGs we write: chunk CRCs, IHDR, filters None/Sub/Up;
    a palette picture comes back as RGB through its PLTE."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, "bad CRC in %r" % kind
        chunks.append((kind, body))
        at += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    info = dict(width=width, height=height, depth=depth, colour=colour, interlace=interlace)
    channels = {0: 1, 2: 3, 3: 1}[colour]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(raw) == height * (1 + width * channels)
    lines = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.uint8)
    for y in range(height):
        kind, line = lines[y, 0], lines[y, 1:]
        previous = out[y - 1] if y else np.zeros_like(line)
        if kind == 0:
            out[y] = line
        elif kind == 1:
            out[y] = (np.cumsum(line.reshape(width, channels), axis=0) % 256).reshape(-1)
        elif kind == 2:
            out[y] = line + previous
        else:
            raise AssertionError("filter %d not expected from our writer" % kind)
    if colour == 3:
        palette = np.frombuffer(dict(chunks)[b"PLTE"], dtype=np.uint8).reshape(-1, 3)
        assert out.max() < len(palette), "index past the palette"
        return info, palette[out.reshape(height, width)]
    return info, out.reshape((height, width) if channels == 1 else (height, width, 3))


# --- nrrd_reader ----------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_every_slice_equals_pynrrds_full_read(tmp_path: Path, compress: bool) -> None:
    path = write_nrrd(tmp_path / "v.nrrd", random_volume(), compress=compress)
    full, _ = nrrd.read(str(path))  # (columns, rows, slices)
    for k in range(full.shape[2]):
        np.testing.assert_array_equal(read_slice(path, k), full[:, :, k].T)


def test_gzip_of_either_deflate_library_reads_back_in_pynrrd_and_here(tmp_path: Path, gzip_library: str) -> None:
    """isal (when installed) and zlib write and read the same plain gzip; pynrrd inflates with zlib."""
    volume = random_volume(slices=40, rows=64, columns=48)
    path = write_nrrd(tmp_path / "v.nrrd", volume, compress=True)
    full, _ = nrrd.read(str(path))
    np.testing.assert_array_equal(full.T, volume)
    for k in (0, 17, 39):
        np.testing.assert_array_equal(read_slice(path, k), volume[k])


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_every_row_section_equals_pynrrds_full_read(tmp_path: Path, compress: bool) -> None:
    path = write_nrrd(tmp_path / "v.nrrd", random_volume(), compress=compress)
    full, _ = nrrd.read(str(path))
    header = read_header(path)
    for j in range(full.shape[1]):
        np.testing.assert_array_equal(read_row_section(header, j), full[:, j, :].T)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_converted_core_planes_equal_pynrrds_full_read(tmp_path: Path, compress: bool) -> None:
    write_well(tmp_path / "well", cores=1, slices=9, rows=24, columns=20)
    result = convert_tree(tmp_path / "well", tmp_path / "out", compress=compress)
    path = tmp_path / "out" / result.records[0].output
    full, _ = nrrd.read(str(path))
    np.testing.assert_array_equal(read_slice(path, 4), full[:, :, 4].T)
    np.testing.assert_array_equal(read_row_section(path, 12), full[:, 12, :].T)


def test_zero_copy_nhdr_over_dicom_files_reads_like_the_nrrd_conversion(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=9, rows=24, columns=20)
    nhdr = convert_tree(tmp_path / "well", tmp_path / "nhdr", output_format="nhdr").records[0]
    full = convert_tree(tmp_path / "well", tmp_path / "nrrd").records[0]
    assert nhdr.output.endswith(".nhdr") and read_header(tmp_path / "nhdr" / nhdr.output).data_file == "LIST"
    for read, index in ((read_slice, 4), (read_row_section, 12)):
        np.testing.assert_array_equal(read(tmp_path / "nhdr" / nhdr.output, index),
                                      read(tmp_path / "nrrd" / full.output, index))


def test_header_fields_are_parsed_verbatim(tmp_path: Path) -> None:
    path = write_nrrd(tmp_path / "v.nrrd", random_volume(), compress=True)
    header = read_header(path)
    assert header.type == "short" and header.dimension == 3 and header.sizes == (6, 5, 7)
    assert header.space_directions == [tuple(d) for d in DIRECTIONS]
    assert header.space_origin == (1.0, -2.5, 30.0)
    assert (header.encoding, header.endian, header.byte_skip, header.data_file) == ("gzip", "little", 0, None)
    assert header.fields["kinds"] == "domain domain domain"
    assert header.spacing == (0.4, 0.5, 1.25)


def test_detached_header_with_a_list_of_slice_files_and_byte_skip_minus_one(tmp_path: Path) -> None:
    volume = random_volume()
    names = []
    for k, plane in enumerate(volume):  # each file: a preamble of its own length, then one slice
        names.append("slice%02d.raw" % k)
        (tmp_path / names[-1]).write_bytes(b"DICM" * (k + 3) + plane.astype("<i2").tobytes())
    text = nrrd_header(nrrd_type="short", sizes=(6, 5, 7), space_directions=DIRECTIONS,
                       space_origin=(0.0, 0.0, 0.0), data_files=names, byte_skip=-1)
    (tmp_path / "v.nhdr").write_text(text)
    header = read_header(tmp_path / "v.nhdr")
    assert header.data_file == "LIST" and header.byte_skip == -1 and len(header.data_files) == 7
    for k in range(7):
        np.testing.assert_array_equal(read_slice(header, k), volume[k])
    np.testing.assert_array_equal(read_row_section(header, 3), volume[:, 3, :])


def test_detached_header_with_one_data_file_and_a_byte_skip(tmp_path: Path) -> None:
    volume = random_volume()
    (tmp_path / "v.raw").write_bytes(b"\0" * 100 + volume.astype("<i2").tobytes())
    text = nrrd_header(nrrd_type="short", sizes=(6, 5, 7), space_directions=DIRECTIONS,
                       space_origin=(0.0, 0.0, 0.0), byte_skip=100)
    (tmp_path / "v.nhdr").write_text(text.rstrip("\n") + "\ndata file: v.raw\n")
    np.testing.assert_array_equal(read_slice(tmp_path / "v.nhdr", 6), volume[6])
    np.testing.assert_array_equal(read_row_section(tmp_path / "v.nhdr", 0), volume[:, 0, :])


def test_big_endian_data_read_as_numbers(tmp_path: Path) -> None:
    volume = random_volume()
    text = nrrd_header(nrrd_type="short", sizes=(6, 5, 7), space_directions=DIRECTIONS,
                       space_origin=(0.0, 0.0, 0.0)).replace("endian: little", "endian: big")
    (tmp_path / "v.nrrd").write_bytes(text.encode() + volume.astype(">i2").tobytes())
    np.testing.assert_array_equal(read_slice(tmp_path / "v.nrrd", 2), volume[2])


def test_truncated_data_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    for compress in (False, True):
        path = write_nrrd(tmp_path / ("v%d.nrrd" % compress), random_volume(), compress=compress)
        path.write_bytes(path.read_bytes()[:-60])
        with pytest.raises(NrrdFormatError, match=re.escape(path.name)):
            read_row_section(path, 2)


def test_a_file_that_is_not_nrrd_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.nrrd").write_bytes(b"\x89PNG garbage")
    with pytest.raises(NrrdFormatError, match="not an NRRD file"):
        read_header(tmp_path / "x.nrrd")


@pytest.fixture(scope="module")
def large_volumes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """200 slices of 512 x 512 int16 = 105 MB of voxels, raw and gzip; slice k holds k in row 256."""
    folder = tmp_path_factory.mktemp("large")
    plane = np.full((512, 512), -1000, dtype=np.int16)
    paths = {}
    for compress in (False, True):
        path = folder / ("large%d.nrrd" % compress)
        with NrrdStreamWriter(path, nrrd_type="short", sizes=(512, 512, 200), space_directions=DIRECTIONS,
                              space_origin=(0.0, 0.0, 0.0), compress=compress, durable=False) as writer:
            for k in range(200):
                plane[256] = k
                writer.write_slice(plane)
            writer.commit()
        paths["gzip" if compress else "raw"] = path
    return paths


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_reading_a_section_of_a_105_mb_volume_holds_a_few_mb(large_volumes: dict, encoding: str) -> None:
    tracemalloc.start()
    try:
        section = read_row_section(large_volumes[encoding], 256)
        middle = read_slice(large_volumes[encoding], 100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(section, np.repeat(np.arange(200, dtype=np.int16)[:, None], 512, axis=1))
    assert middle[256, 0] == 100 and middle[0, 0] == -1000
    assert peak < 8_000_000, "peak %d bytes for a 105 MB volume" % peak


def test_drawing_a_thumbnail_of_a_105_mb_gzip_volume_holds_a_few_mb(large_volumes: dict, tmp_path: Path) -> None:
    tracemalloc.start()
    try:
        core_thumbnail(large_volumes["gzip"], tmp_path / "t.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000, "peak %d bytes" % peak


# --- png ------------------------------------------------------------------------------------


def test_grey_png_decodes_to_the_same_pixels(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(37, 53), dtype=np.uint8)
    info, decoded = decode_png(write_png(tmp_path / "g.png", pixels).read_bytes())
    assert info == dict(width=53, height=37, depth=8, colour=0, interlace=0)
    np.testing.assert_array_equal(decoded, pixels)


def test_rgb_png_decodes_to_the_same_pixels() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    info, decoded = decode_png(encode_png(pixels))
    assert (info["width"], info["height"], info["colour"]) == (11, 9, 2)
    np.testing.assert_array_equal(decoded, pixels)


def test_palette_png_decodes_to_the_colours_of_its_indices() -> None:
    palette = np.random.default_rng(4).integers(0, 256, size=(7, 3), dtype=np.uint8)
    indices = np.random.default_rng(5).integers(0, 7, size=(13, 6), dtype=np.uint8)
    info, decoded = decode_png(encode_png(indices, palette=palette))
    assert (info["width"], info["height"], info["colour"]) == (6, 13, 3)
    np.testing.assert_array_equal(decoded, palette[indices])
    with pytest.raises(ValueError, match="past the palette"):
        encode_png(np.full((2, 2), 7, dtype=np.uint8), palette=palette)


def test_thumbnail_ticks_are_orange_on_white(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=20, rows=16, columns=16)
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    _, pixels = decode_png(core_thumbnail(tmp_path / "out" / result.records[0].output,
                                          tmp_path / "t.png").read_bytes())
    colours = {tuple(c) for c in pixels.reshape(-1, 3)}
    assert (255, 255, 255) in colours and thumbnails.TICK in colours
    greys = {c for c in colours if c != thumbnails.TICK}
    assert all(r == g == b for r, g, b in greys)  # everything but the ticks is grey


def test_png_refuses_pixels_that_are_not_8_bit() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), dtype=np.int16))


# --- thumbnails -----------------------------------------------------------------------------


def test_resampling_keeps_the_physical_aspect_within_the_box() -> None:
    plane = np.zeros((160, 48), dtype=np.float32)  # 160 slices of 0.5 mm, 48 columns of 0.6 mm
    assert fit(plane, (80.0, 28.8), 512).shape == (512, 184)
    assert fit(plane, (8.0, 28.8), 512).shape == (142, 512)  # a short core fits by its width


def test_shrinking_averages_blocks_of_voxels() -> None:
    plane = np.array([[0.0], [2.0], [10.0], [20.0]], dtype=np.float32)
    np.testing.assert_array_equal(thumbnails.resample_axis(plane, 2, 0), [[1.0], [15.0]])


@pytest.mark.parametrize("shape, size, axis", [((900, 37), 512, 0), ((5, 1196), 354, 1), ((20000, 3), 512, 0),
                                               ((3, 1000), 7, 1), ((64, 9), 64, 0), ((10, 10), 1, 0),
                                               ((5, 1196), 700, 1)])
def test_block_sums_are_numpys_reduceat_of_the_same_blocks(shape: Tuple[int, int], size: int, axis: int) -> None:
    plane = np.random.default_rng(size).normal(0.0, 1000.0, shape).astype(np.float32)
    count = shape[axis]
    starts = (np.arange(size) * count) // size
    widths = np.append(starts[1:], count) - starts
    sums = thumbnails.block_sums(plane, starts, widths, axis)
    assert sums.dtype == np.float32 and sums.shape == np.add.reduceat(plane, starts, axis=axis).shape
    np.testing.assert_allclose(sums, np.add.reduceat(plane, starts, axis=axis), rtol=1e-6, atol=1e-2)
    exact = np.add.reduceat(plane.astype(np.float64), starts, axis=axis)
    assert np.abs(sums - exact).max() <= np.abs(np.add.reduceat(plane, starts, axis=axis) - exact).max() + 1e-2
    # a file's CT numbers (int16), summed in float32 without a float copy of the plane
    stored = np.round(plane).astype(np.int16)
    in_float = thumbnails.block_sums(stored, starts, widths, axis, np.float32)
    assert in_float.dtype == np.float32
    np.testing.assert_array_equal(in_float, np.add.reduceat(stored, starts, axis=axis, dtype=np.float32))
    # small integers summed as reduceat sums them (in int64, not overflowing int8), and their means
    tiny = np.clip(np.round(plane / 10.0), -128, 127).astype(np.int8)
    tiny_sums = thumbnails.block_sums(tiny, starts, widths, axis)
    assert tiny_sums.dtype == np.add.reduceat(tiny, starts, axis=axis).dtype
    np.testing.assert_array_equal(tiny_sums, np.add.reduceat(tiny, starts, axis=axis))
    loud = np.clip(np.round(plane * 10.0), -32768, 32767).astype(np.int16)  # sums past int16's range
    np.testing.assert_allclose(thumbnails.resample_axis(loud, size, axis),
                               thumbnails.resample_axis(loud.astype(np.float64), size, axis), rtol=1e-12)
    # a wider type summed in float32 as reduceat's dtype does: each value made float32, then added
    # (blocks of one or two values: reduceat adds a longer block's first value to the others' sum)
    if int(widths.max()) <= 2:
        wide = plane.astype(np.float64) * (1.0 + 1e-4 * np.pi)
        np.testing.assert_array_equal(thumbnails.block_sums(wide, starts, widths, axis, np.float32),
                                      np.add.reduceat(wide, starts, axis=axis, dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_the_window_maps_low_to_black_and_high_to_white_and_no_value_to_black(dtype: type) -> None:
    values = np.array([-3000.0, -1000.0, -999.0, 1000.0, 2999.0, 3000.0, 9000.0], dtype=dtype)
    expected = [0, 0, 0, 127, 254, 254, 254]  # 254 levels over 4000 HU, rounded to the nearest
    assert thumbnails.to_grey(values, -1000.0, 3000.0, 255).tolist() == expected
    if np.dtype(dtype).kind == "f":
        odd = np.array([np.nan, -np.inf, np.inf], dtype=dtype)
        assert thumbnails.to_grey(odd, -1000.0, 3000.0, 255).tolist() == [0, 0, 254]


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.uint8, np.float32])
@pytest.mark.parametrize("window", [(-1000.0, 3000.0), (-1000.5, 2999.5), (-99999.0, 99999.0), (5.2, 5.9),
                                    (70000.0, 80000.0), (-70000.0, -60000.0), (0.0, 1.0), (254.0, 255.5),
                                    (-math.inf, math.inf), (-1000.0, math.inf), (-math.inf, 0.0), (math.inf, -math.inf),
                                    (math.nan, 3000.0), (-1000.0, math.nan)])
def test_values_inside_a_window_are_counted_as_the_numbers_they_are(dtype: type, window: Tuple[float, float]) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    values = np.concatenate([np.linspace(max(float(info.min), -5000.0), min(float(info.max), 5000.0), 4001),
                             [float(info.min), float(info.max), -1000.0, 3000.0, 5.0, 6.0, 0.0, 1.0, 255.0]])
    values = values.astype(dtype)
    exact = [float(v) for v in values.ravel()]  # Python's own comparison of the same numbers
    inside = sum(window[0] < v < window[1] for v in exact)
    assert thumbnails.window_counts(values.reshape(-1, 5), window) == (inside, values.size)


def test_rock_ct_window_is_used_for_hounsfield_units_and_percentiles_otherwise() -> None:
    hounsfield = np.array([-1000.0] * 50 + [1500.0, 2200.0, 2800.0] * 20)
    assert choose_window(hounsfield) == (-1000.0, 3000.0)
    raw_micro_ct = np.linspace(20000.0, 60000.0, 1001)
    assert choose_window(raw_micro_ct) == pytest.approx((20200.0, 59800.0))


def stripes(tmp_path: Path, k_direction: Tuple[float, float, float], top_last: bool = False) -> np.ndarray:
    """Thumbnail of a core whose slices brighten with k (air at k=0, dense at the last)."""
    volume = np.empty((10, 8, 8), dtype=np.int16)
    volume[:] = np.linspace(-1000, 3000, 10).astype(np.int16)[:, None, None]
    path = write_nrrd(tmp_path / "s.nrrd", volume, directions=((1.0, 0, 0), (0, 1.0, 0), k_direction))
    sheet, (left, top, _, height), _ = thumbnails.thumbnail_sheet(path, top_last=top_last)
    _, pixels = decode_png(sheet.save(tmp_path / "s.png").read_bytes())
    return pixels[top:top + height, left + 4, 0]  # a column through the long section, top to bottom


@pytest.mark.parametrize("k_direction", [(0.0, 0.0, 1.0), (0.0, 0.0, -1.0)])
def test_the_cores_top_is_drawn_on_top_as_in_the_strip_the_log_and_the_unwrap(
        tmp_path: Path, k_direction: Tuple[float, float, float]) -> None:
    # Slice 0 is the top (the depth convention), whichever way the patient S axis runs: a core
    # lies on the scanner table.  A core the depth table flips has its last slice on top.
    first = stripes(tmp_path, k_direction)
    assert (first[0], first[505]) == (0, 255)
    last = stripes(tmp_path, k_direction, top_last=True)
    assert (last[0], last[505]) == (255, 0)


def test_the_batch_draws_a_flipped_cores_thumbnail_with_its_last_slice_on_top(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=2, slices=12, rows=16, columns=16)
    (tmp_path / "depths.csv").write_text("core,top,bottom,flip\ncore_001,100.0,100.012,no\n"
                                         "core_002,100.012,100.024,yes\n")
    result = run_batch(tmp_path / "well", tmp_path / "out",
                       BatchOptions(workers=1, scene=SceneOptions(depths_file=tmp_path / "depths.csv")))
    assert [r.status for r in result.records] == ["converted"] * 2
    out = tmp_path / "out"
    for record, top_last, top_m in zip(result.records, (False, True), (100.0, 100.012)):
        drawn = (out / "thumbnails" / (Path(record.output).stem + ".png")).read_bytes()
        expected = core_thumbnail(out / record.output, tmp_path / "expected.png", top_last=top_last,
                                  top_m=top_m).read_bytes()
        opposite = core_thumbnail(out / record.output, tmp_path / "opposite.png", top_last=not top_last,
                                  top_m=top_m).read_bytes()
        assert drawn == expected != opposite


def test_thumbnail_of_a_synthetic_core_shows_air_black_and_rock_bright(tmp_path: Path) -> None:
    write_well(tmp_path / "well", cores=1, slices=40, rows=32, columns=32)
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    sheet, (left, top, width, height), _ = thumbnails.thumbnail_sheet(tmp_path / "out" / result.records[0].output)
    info, pixels = decode_png(sheet.save(tmp_path / "t.png").read_bytes())
    assert info["colour"] == 3 and height <= 512
    column = pixels[top + 100, left:left + width, 0]  # across the long section
    assert column[1] == 0 and column[len(column) // 2] > 150


# --- report ---------------------------------------------------------------------------------


@pytest.fixture
def batch(tmp_path: Path) -> Tuple[Path, List[CoreRecord]]:
    """Three good cores and one that fails ("dup" sorts last, so failures-first shows)."""
    write_well(tmp_path / "well", cores=3, slices=12)
    write_core_series(tmp_path / "well" / "dup", slices=6, duplicate=(3,), seed=9)
    result = convert_tree(tmp_path / "well", tmp_path / "out")
    return tmp_path / "out", result.records


def table_rows(page: str) -> List[str]:
    return re.findall(r"<tr class=\"[^\"]*\">.*?</tr>", page.split("<tbody>")[1], flags=re.S)


def test_report_lists_every_core_with_failures_first(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    page = write_report(output, records).read_text(encoding="utf-8")
    rows = table_rows(page)
    assert len(rows) == 4
    assert 'class="failed"' in rows[0] and ">dup<" in rows[0] and "duplicate slice position" in rows[0]
    assert [re.search(r'class="name">([^<]*)<', row).group(1) for row in rows[1:]] == [
        "core_001", "core_002", "core_003"]


def test_report_totals_count_each_status(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    page = write_report(output, records).read_text(encoding="utf-8")
    cards = dict((label, value) for value, label in re.findall(
        r'<div class="n">([^<]*)</div><div class="l">([^<]*)</div>', page))
    assert (cards["Cores"], cards["Converted"], cards["Skipped"], cards["Failed"]) == ("4", "3", "0", "1")


def test_totals_use_the_batch_wall_clock_time_when_given() -> None:
    records = [CoreRecord("a", "/a", status="converted", bytes=4_000_000, seconds=2.0),
               CoreRecord("b", "/b", status="converted", bytes=4_000_000, seconds=2.0),
               CoreRecord("c", "/c", status="skipped", bytes=1_000_000),
               CoreRecord("d", "/d", status="failed", error="x")]
    assert summarize(records).throughput == 2_000_000
    totals = summarize(records, elapsed_seconds=2.0)
    assert (totals.bytes, totals.throughput, totals.failed, totals.skipped) == (9_000_000, 4_000_000, 1, 1)


def test_manifest_csv_has_one_row_per_core_with_its_fields(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    write_report(output, records)
    with open(output / "manifest.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [r["name"] for r in rows] == [r.name for r in records]
    good = next(r for r in rows if r["name"] == "core_001")
    record = next(r for r in records if r.name == "core_001")
    assert (good["status"], good["dimensions"], good["spacing_mm"]) == ("converted", "20x24x12", "0.4x0.5x1.0")
    assert (good["type"], good["output"], good["source"]) == ("int16", "core_001.nrrd", record.source)
    assert good["size_mb"] == "%.6f" % (20 * 24 * 12 * 2 / 1e6)
    bad = next(r for r in rows if r["name"] == "dup")
    assert bad["status"] == "failed" and "duplicate slice position" in bad["error"] and bad["output"] == ""


def test_csv_joins_warnings_with_a_bar(tmp_path: Path) -> None:
    record = CoreRecord("a", "/a", status="failed", error="bad", warnings=["one, with comma", "two"])
    write_report(tmp_path, [record])
    with open(tmp_path / "manifest.csv", newline="", encoding="utf-8") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["warnings"] == "one, with comma | two"


def test_pictures_are_drawn_only_for_cores_with_an_output(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    page = write_report(output, records).read_text(encoding="utf-8")
    assert sorted(p.name for p in (output / "thumbnails").iterdir() if not p.name.startswith(".")) == [
        "core_001.png", "core_002.png", "core_003.png"]
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == ["thumbnails/core_001.png", "thumbnails/core_002.png", "thumbnails/core_003.png"]
    assert all((output / s).is_file() for s in sources)  # relative links: opens from disk


def test_report_escapes_names_and_messages(tmp_path: Path) -> None:
    record = CoreRecord('<script>alert("x")</script>', "/in/a&b", status="failed", error="<b>bad</b> & worse")
    page = write_report(tmp_path, [record]).read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>bad</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)" in page and "&lt;b&gt;bad&lt;/b&gt; &amp; worse" in page


def test_a_picture_that_cannot_be_drawn_is_a_warning_in_the_report(tmp_path: Path) -> None:
    (tmp_path / "broken.nrrd").write_bytes(b"NRRD0004\ntype: short\n\ngarbage")
    records = [CoreRecord("broken", "/in/broken", status="converted", output="broken.nrrd"),
               CoreRecord("gone", "/in/gone", status="skipped", output="gone.nrrd")]
    page = write_report(tmp_path, records).read_text(encoding="utf-8")
    rows = table_rows(page)
    assert "thumbnail not drawn" in rows[0] and "missing required field" in rows[0]
    assert "thumbnail: output gone.nrrd not found" in rows[1]
    assert "<img" not in page


def test_pictures_newer_than_their_nrrd_are_reused_and_stale_ones_redrawn(
        batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    write_report(output, records)
    png, nrrd_file = output / "thumbnails" / "core_001.png", output / "core_001.nrrd"
    os.utime(nrrd_file, ns=(10**18, 10**18))
    os.utime(png, ns=(2 * 10**18, 2 * 10**18))
    png.write_bytes(b"kept")  # write_bytes changes mtime: set it again
    os.utime(png, ns=(2 * 10**18, 2 * 10**18))
    write_report(output, records)
    assert png.read_bytes() == b"kept"
    os.utime(nrrd_file, ns=(3 * 10**18, 3 * 10**18))
    with foreign_files_replaceable(True):  # the picture changed by hand above is no longer the batch's
        write_report(output, records)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_leaves_no_temporary_files(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    (output / "thumbnails").mkdir(exist_ok=True)
    (output / "thumbnails" / ".core_001.png.dead.partial").write_bytes(b"killed run")
    write_report(output, records)
    leftovers = [p.name for p in list(output.iterdir()) + list((output / "thumbnails").iterdir())
                 if p.name.endswith(".partial")]
    assert leftovers == []


def test_a_header_with_a_malformed_number_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.nrrd").write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 four 4\nencoding: raw\n\n")
    with pytest.raises(NrrdFormatError, match="x.nrrd: unreadable header"):
        read_header(tmp_path / "x.nrrd")


def test_csv_cells_that_look_like_formulas_are_defused(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.report.page import csv_row
    record = CoreRecord(name="=HYPERLINK(\"x\")", source="/data/@well", error="+1 bad", warnings=["-x"],
                        manufacturer="=cmd", kernel="@B70")
    row = dict(zip(CSV_FIELDS, csv_row(record)))
    assert row["name"] == "'=HYPERLINK(\"x\")" and row["error"] == "'+1 bad" and row["warnings"] == "'-x"
    assert (row["manufacturer"], row["kernel"]) == ("'=cmd", "'@B70")
    assert row["source"] == "/data/@well"


def test_thumbnail_avoids_a_filled_gap_as_the_axial_picture(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.analysis.long_section import AxialChoice

    def chosen(section: np.ndarray) -> int:
        choice = AxialChoice(len(section), reach=2)
        for k, row in enumerate(section):
            choice.offer(k, row)
        return choice.slice

    section = np.arange(40, dtype=np.float32).reshape(8, 5)
    section[4] = -1000.0  # a filled gap in the middle: the slice before it, as near
    assert chosen(section) == 3
    section[3] = -1000.0  # …then the one after it
    assert chosen(section) == 5
    section[:] = -1000.0  # nothing but fill: the middle
    assert chosen(section) == 4


def test_long_sections_are_reduced_to_block_means_before_any_float_copy() -> None:
    """As the file's rows come, in blocks that need not line up with the means' blocks."""
    from CoreBatchLoaderLib.analysis.long_section import RowMeans

    def reduced(blocks, count: int, limit: int) -> np.ndarray:
        means = RowMeans(count, limit)
        for block in blocks:
            means.add(block)
        return means.result()

    section = np.arange(3000 * 4, dtype=np.int16).reshape(3000, 4)
    starts = (np.arange(1001) * 3000) // 1000
    expected = np.array([section[a:b].mean(axis=0) for a, b in zip(starts[:-1], starts[1:])], np.float32)
    for block in (1, 7, 256, 3000):
        small = reduced((section[n:n + block] for n in range(0, 3000, block)), 3000, 1000)
        assert small.shape == (1000, 4) and small.dtype == np.float32
        np.testing.assert_array_equal(small, expected)
    assert reduced([section[:4], section[4:10]], 10, 1000).shape == (10, 4)
    # floats, whose sums depend on the order they are added in: the same means, to the bit,
    # whether the rows come one at a time (the conversion) or in blocks of any size (a file)
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64, np.int32):
        rows = rng.normal(1000.0, 800.0, (5000, 6)).astype(dtype)
        starts = (np.arange(1025) * 5000) // 1024
        expected = np.array([rows[a:b].mean(axis=0, dtype=np.float64) for a, b in zip(starts[:-1], starts[1:])],
                            np.float32)
        cuts = np.unique(np.concatenate([[0, 5000], rng.integers(0, 5000, 300)]))
        for blocks in ([rows[n:n + 1] for n in range(5000)], [rows[a:b] for a, b in zip(cuts[:-1], cuts[1:])]):
            np.testing.assert_array_equal(reduced(blocks, 5000, 1024), expected)


def test_a_batch_that_stopped_says_so_on_top_of_its_report(batch: Tuple[Path, List[CoreRecord]]) -> None:
    output, records = batch
    page = write_report(output, records, stopped="output disk full while writing <core>.nrrd").read_text()
    banner = '<p class="stopped">The batch stopped before the end: output disk full while writing &lt;core&gt;.nrrd</p>'
    assert banner in page and page.index(banner) < page.index('<section class="cards">')
    assert 'class="stopped"' not in write_report(output, records).read_text()



def whole_unwrap_picture(image: np.ndarray, spacings: Tuple[float, float]) -> np.ndarray:
    """The unwrap picture drawn from the whole image at once (the reference for the drawing in blocks)."""
    picture = image.astype(np.float32)
    low, high = choose_window(picture.ravel())
    return thumbnails.to_grey(fit(picture, (image.shape[0] * spacings[1], image.shape[1] * spacings[0]), 512),
                              low, high, thumbnails.GREYS)


@pytest.mark.parametrize("rows, row_mm", [(1500, 0.5), (700, 0.5), (40, 0.5), (300, 0.05)],
                         ids=["shrunk", "shrunk-blocks-of-odd-size", "enlarged", "short-core"])
def test_an_unwrap_picture_drawn_in_blocks_of_rows_is_the_whole_pictures(tmp_path: Path, rows: int,
                                                                         row_mm: float) -> None:
    from CoreBatchLoaderLib.nrrd.writer import write_image_2d
    from CoreBatchLoaderLib.report.thumbnails import ROWS_AT_ONCE
    from CoreBatchLoaderLib.report.unwrap_picture import draw_unwrap, read_unwrap_view
    assert rows > ROWS_AT_ONCE or rows < 64
    image = np.random.default_rng(3).integers(-1000, 3000, size=(rows, 300)).astype(np.int16)
    image[rows // 3] = -1000  # a dark row: block means must not smear it across a block boundary
    path = write_image_2d(tmp_path / "u.nrrd", [image[:rows // 2], image[rows // 2:]], (300, rows),
                          np.dtype(np.int16), (0.3, row_mm), durable=False)
    view = read_unwrap_view(path)
    _, pixels = decode_png(draw_unwrap(view).save(tmp_path / "u.png").read_bytes())
    expected = thumbnails.PALETTE[whole_unwrap_picture(image, (0.3, row_mm))]
    drawn = pixels[view.top:view.top + view.height, view.left:view.left + view.width]
    np.testing.assert_array_equal(drawn, expected)


def test_drawing_the_unwrap_picture_of_a_long_core_holds_blocks_of_rows(tmp_path: Path) -> None:
    """An unwrap of 4,000 slices × 1,446 columns (11.6 MB of int16; 23 MB as float32) is drawn
    from :data:`ROWS_AT_ONCE` rows at a time."""
    from CoreBatchLoaderLib.nrrd.writer import write_image_2d
    from CoreBatchLoaderLib.report.unwrap_picture import unwrap_picture
    unwrap_picture(write_image_2d(tmp_path / "small.nrrd", [np.zeros((4, 4), np.int16)], (4, 4), np.dtype(np.int16),
                                  (0.26, 0.5), durable=False), tmp_path / "small.png")  # the labels' glyphs, once
    rows, columns = 4000, 1446
    blocks = (np.full((100, columns), n % 3000, np.int16) for n in range(0, rows, 100))
    path = write_image_2d(tmp_path / "u.nrrd", blocks, (columns, rows), np.dtype(np.int16), (0.26, 0.5),
                          durable=False)
    peak = traced_peak(lambda: unwrap_picture(path, tmp_path / "u.png"))
    assert peak < 0.2 * rows * columns * 2, "peak %d bytes" % peak


def test_the_window_of_several_planes_is_the_window_of_them_joined() -> None:
    hounsfield = np.array([-1000.0] * 50 + [1500.0, 2200.0, 2800.0] * 20)
    raw_micro_ct = np.linspace(20000.0, 60000.0, 1001)
    for a, b in ((hounsfield, raw_micro_ct), (raw_micro_ct[:20], hounsfield), (raw_micro_ct, raw_micro_ct[::3])):
        assert choose_window([a, b]) == choose_window(np.concatenate([a, b]))


def test_the_well_strip_pastes_an_unwrap_read_in_blocks_as_the_whole_picture(tmp_path: Path) -> None:
    from CoreBatchLoaderLib.nrrd.writer import write_image_2d
    from CoreBatchLoaderLib.report.thumbnails import read_resampled
    from CoreBatchLoaderLib.well.placement import place_unwrap
    from CoreBatchLoaderLib.well.strip import WellStrip
    image = np.random.default_rng(5).integers(-1000, 3000, size=(900, 400)).astype(np.int16)
    path = write_image_2d(tmp_path / "u.nrrd", [image], (400, 900), np.dtype(np.int16), (0.3, 0.5), durable=False)
    header = read_header(path)
    grid = place_unwrap(header.sizes, header.spacing, 1000.0, 100.0)
    strips = [WellStrip(-1000000.0, -1000600.0, 120.0), WellStrip(-1000000.0, -1000600.0, 120.0)]
    strips[0].paste("u", grid, image, width_mm=120.0)
    strips[1].paste("u", grid, lambda shape: read_resampled(header, shape)[0], width_mm=120.0)
    assert np.isfinite(strips[0].values).any()
    np.testing.assert_array_equal(strips[0].values, strips[1].values)


def test_drawing_the_thumbnail_of_a_long_raw_core_holds_blocks_of_its_section(tmp_path: Path) -> None:
    """8,000 slices: the long section (one row of every slice, 4 MB of int16) is reduced to block
    means as it is read, 256 slices at a time, never held whole."""
    slices, rows, columns = 8000, 4, 256
    path = tmp_path / "long.nrrd"
    plane = np.zeros((rows, columns), np.int16)
    with NrrdStreamWriter(path, nrrd_type="short", sizes=(columns, rows, slices), space_directions=DIRECTIONS,
                          space_origin=(0.0, 0.0, 0.0), durable=False) as writer:
        for k in range(slices):
            plane[:] = k % 3000
            writer.write_slice(plane)
        writer.commit()
    peak = traced_peak(lambda: core_thumbnail(path, tmp_path / "t.png"))
    assert peak < 0.6 * slices * columns * 2, "peak %d bytes" % peak


def traced_peak(work: Callable[[], object]) -> int:
    """The most memory (bytes, tracemalloc) ``work`` held at once."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("slices, missing, compress, flip", [
    (40, (20,), False, False),  # the middle slice a filled gap: the axial picture moves to a neighbour
    (40, (19, 20, 21), True, True),  # compressed, flipped
    (1100, (), True, False),  # more slices than the section keeps: block means
])
def test_the_picture_drawn_from_planes_kept_while_converting_is_the_one_drawn_from_the_file(
        tmp_path: Path, slices: int, missing: Tuple[int, ...], compress: bool, flip: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker draws each core's picture from the planes kept while converting (a compressed
    core is not inflated again); byte for byte the picture the report draws from the file."""
    record = _kept_and_file_pictures(tmp_path, monkeypatch, dict(compress=compress), flip,
                                     slices=slices, missing=missing)
    if missing:
        assert record.kept_section.k not in missing and abs(record.kept_section.k - slices // 2) <= 2


@pytest.mark.parametrize("series, options", [
    (dict(slices=1), {}),
    (dict(slices=2), dict(ct_log=True, unwrap_radius=DEFAULT_RADIUS_TEXT)),
    (dict(slices=30, missing=(0, 1, 29)), {}),  # gaps at both ends
    (dict(slices=30, slope=0.5, intercept=-1024.5, missing=(15,)), {}),  # float32
    (dict(slices=30, multiframe=True), dict(compress=True)),
    (dict(slices=30, signed=False, bits_stored=16, intercept=-1024.0, missing=(15,), widen=True),
     dict(threaded_analyses=True)),
])
def test_the_kept_picture_is_the_files_for_short_float_multiframe_and_widened_cores(
        tmp_path: Path, series: dict, options: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """As above for the awkward cores; the unsigned one has a voxel past int16, so the first pass
    stops (OutOfRange) and the core is converted again as int32 with its analyses afresh."""
    record = _kept_and_file_pictures(tmp_path, monkeypatch, options, False, **series)
    if series.get("widen"):
        assert record.type == "int32" and record.kept_section.axial.dtype == np.int32, record


def test_keeping_the_pictures_planes_leaves_the_ct_log_and_unwrap_as_they_were_and_alone_looks_for_no_section(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planes never read the core's section (``wants_section = False``): beside the CT log
    and the unwrap those get the same sections, byte for byte the same files; alone, no slice is
    searched for the core."""
    from CoreBatchLoaderLib.analysis import slices as slice_hook
    from CoreBatchLoaderLib.convert import ConvertOptions, convert_core
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    write_core_series(tmp_path / "in" / "core", slices=40, rows=32, columns=28, missing=(20,))
    core = scan_folder(find_core_folders(tmp_path / "in")[0]).cores[0]
    outputs = []
    for keep in (False, True):
        out = tmp_path / ("kept" if keep else "plain")
        out.mkdir()
        record = convert_core(core, out, ConvertOptions(durable=False, long_section=keep))
        assert record.ct_log and record.unwrap and record.axis_direction_lps, record
        outputs.append([(out / name).read_bytes() for name in (record.ct_log, record.unwrap)] + [record.warnings])
    assert outputs[0] == outputs[1]

    def searched(*args: object) -> None:
        raise AssertionError("a section was looked for with no analysis reading it")

    monkeypatch.setattr(slice_hook, "find_core_section", searched)
    (tmp_path / "alone").mkdir()
    record = convert_core(core, tmp_path / "alone", ConvertOptions(durable=False, long_section=True, ct_log=False,
                                                                   unwrap_radius=None))
    assert record.kept_section is not None and not any("section" in w for w in record.warnings), record.warnings


def _kept_and_file_pictures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict, flip: bool,
                            widen: bool = False, **series: object) -> CoreRecord:
    """Convert one synthetic core keeping the picture's planes; assert the picture drawn from them
    is the file's, byte for byte, and that none of the file's voxels is read for it."""
    import pydicom

    from CoreBatchLoaderLib.convert import ConvertOptions, convert_core
    from CoreBatchLoaderLib.dicom.discover import find_core_folders, scan_folder

    series.setdefault("rows", 32)
    series.setdefault("columns", 28)
    written = write_core_series(tmp_path / "in" / "core", **series)
    if widen:  # one voxel past int16 after the intercept: the core is written again as int32
        ds = pydicom.dcmread(written.files[3])
        pixels = ds.pixel_array.copy()
        pixels[1, 1] = 60000
        ds.PixelData = pixels.tobytes()
        ds.save_as(written.files[3])
    core = scan_folder(find_core_folders(tmp_path / "in")[0]).cores[0]
    (tmp_path / "out").mkdir()
    options = dict(dict(ct_log=False, unwrap_radius=None), **options)
    record = convert_core(core, tmp_path / "out", ConvertOptions(durable=False, long_section=True, **options))
    assert record.status == "converted" and record.kept_section is not None, record
    assert "kept_section" not in record.to_json()
    nrrd = tmp_path / "out" / record.output
    from_file = thumbnails.core_thumbnail(nrrd, tmp_path / "file.png", top_last=flip).read_bytes()
    monkeypatch.setattr(thumbnails, "iter_row_section", None)  # the kept planes are all it needs:
    monkeypatch.setattr(thumbnails, "read_slice", None)  # no voxel is read back
    kept = thumbnails.core_thumbnail(nrrd, tmp_path / "kept.png", top_last=flip, kept=record.kept_section)
    assert kept.read_bytes() == from_file
    return record


def test_a_compressed_batch_draws_its_pictures_without_reading_its_cores_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--compress: each worker draws its core's picture from the planes kept while converting;
    no compressed core is inflated again for its thumbnail (40 % of such a run's CPU before)."""
    write_well(tmp_path / "well", cores=3, slices=30)

    def inflated(*args: object, **kwargs: object) -> None:
        raise AssertionError("a core was read back for its picture")

    monkeypatch.setattr(thumbnails, "iter_row_section", inflated)
    result = convert_tree(tmp_path / "well", tmp_path / "out", compress=True)
    assert result.exit_code == 0 and len(result.records) == 3
    for record in result.records:
        assert (tmp_path / "out" / "thumbnails" / (record.name + ".png")).stat().st_size > 0
        assert not any("thumbnail" in w for w in record.warnings), record.warnings
        assert record.kept_section is None  # drawn, then let go: not carried back to the batch


def test_the_progress_bar_and_the_report_show_the_same_throughput(tmp_path: Path) -> None:
    """Issue 20 item 6: one function (messages.throughput_text) over the same bytes and the same
    time — the conversion's, not the well steps and the report that follow it."""
    from CoreBatchLoaderLib.cli import ProgressBar
    write_well(tmp_path / "well", cores=3, slices=6)
    shown: List[str] = []

    class Bar(ProgressBar):  # the command's bar, its text caught instead of drawn
        def __init__(self) -> None:
            super().__init__()
            self._tqdm_class = None

        def __call__(self, progress) -> bool:
            from CoreBatchLoaderLib.messages import throughput_text
            shown.append(throughput_text(progress.bytes_done, progress.elapsed))
            return super().__call__(progress)

    options = BatchOptions(workers=1, scene=SceneOptions(start_depth_m=10.0, core_length_m=0.006))
    result = run_batch(tmp_path / "well", tmp_path / "out", options, progress=Bar())
    assert result.converting_seconds is not None and shown[-1].endswith("/s")
    page = result.report.read_text(encoding="utf-8")
    cards = dict((label, value) for value, label in re.findall(r'<div class="n">([^<]*)</div><div class="l">([^<]*)<', page))
    assert cards["Throughput"] == shown[-1]
