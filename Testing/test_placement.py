"""Placing cores at their depth, and shrinking them to fit: the arithmetic, without Slicer.

The same placement is checked through Slicer's own reader in test_well_scene.py.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from CoreBatchLoaderLib.well.placement import Grid, block_grid, block_padding, depth_to_s, place_core
from CoreBatchLoaderLib.well.proxies import (
    BlockMean,
    default_budget,
    parse_size,
    physical_memory,
    smallest_factor,
    volume_bytes,
)

SIZES, SPACING = (20, 24, 12), (0.4, 0.5, 1.25)


def centre_ras(grid: Grid, i: float, j: float, k: float) -> np.ndarray:
    return (grid.ijk_to_ras() @ np.array([i, j, k, 1.0]))[:3]


def test_an_unflipped_core_hangs_from_its_top_depth_with_slice_0_on_top() -> None:
    grid = place_core(SIZES, SPACING, 2450.123456)
    bottom, top = grid.s_range()
    assert top == pytest.approx(-2450123.456, abs=1e-6)
    assert bottom == pytest.approx(-2450123.456 - 12 * 1.25, abs=1e-6)
    assert centre_ras(grid, 0, 0, 0)[2] == pytest.approx(-2450123.456 - 1.25 / 2, abs=1e-6)
    assert centre_ras(grid, 0, 0, 1)[2] < centre_ras(grid, 0, 0, 0)[2]  # k runs down the hole


def test_a_flipped_core_has_its_last_slice_on_top() -> None:
    grid = place_core(SIZES, SPACING, 2450.123456, flip=True)
    bottom, top = grid.s_range()
    assert (bottom, top) == pytest.approx((-2450123.456 - 15.0, -2450123.456), abs=1e-6)
    assert centre_ras(grid, 0, 0, 11)[2] == pytest.approx(-2450123.456 - 1.25 / 2, abs=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_placed_index_frames_are_right_handed_rotations_of_the_scan(flip: bool) -> None:
    """Slicer reverses the slices of a left-handed NRRD; a mirror image would also misdraw rock."""
    grid = place_core(SIZES, SPACING, 100.0, flip)
    directions = np.array(grid.directions_lps).T / np.array(SPACING)
    assert np.linalg.det(np.array(grid.directions_lps)) > 0
    np.testing.assert_allclose(directions.T @ directions, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("flip", [False, True])
def test_the_core_is_centred_on_the_well_axis(flip: bool) -> None:
    bounds = place_core(SIZES, SPACING, 100.0, flip).ras_bounds()
    np.testing.assert_allclose(bounds[:2, 0], -bounds[:2, 1], atol=1e-9)
    np.testing.assert_allclose(bounds[:2, 1], [20 * 0.4 / 2, 24 * 0.5 / 2], atol=1e-9)


def test_depth_is_metres_down_the_hole_and_s_is_millimetres_up() -> None:
    assert depth_to_s(2450.5) == -2450500.0


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("factor", [2, 5])  # 5 divides none of 20, 24, 12: partial blocks everywhere but i
def test_a_block_grid_keeps_the_top_of_the_core_at_its_depth(flip: bool, factor: int) -> None:
    grid = place_core(SIZES, SPACING, 2450.123456, flip)
    coarse = block_grid(grid, factor, block_padding(SIZES, factor, flip))
    assert coarse.s_range()[1] == pytest.approx(grid.s_range()[1], abs=1e-6)
    assert grid.s_range()[0] - coarse.s_range()[0] < factor * SPACING[2]  # overshoot: within one block
    assert coarse.sizes == tuple(-(-n // factor) for n in SIZES)


def brute_block_mean(volume: np.ndarray, factor: int, padding: tuple) -> np.ndarray:
    """Mean of each block of a [k, j, i] array padded with NaN before index 0 (pad i, j, k)."""
    pads = [(padding[2], 0), (padding[1], 0), (padding[0], 0)]
    padded = np.pad(volume.astype(float), pads, constant_values=np.nan)
    shape = [-(-n // factor) * factor for n in padded.shape]
    padded = np.pad(padded, [(0, s - n) for s, n in zip(shape, padded.shape)], constant_values=np.nan)
    blocks = padded.reshape(shape[0] // factor, factor, shape[1] // factor, factor, shape[2] // factor, factor)
    return np.nanmean(blocks, axis=(1, 3, 5))


@pytest.mark.parametrize("flip", [False, True])
def test_block_mean_streams_slices_into_the_mean_of_each_block(flip: bool) -> None:
    rng = np.random.default_rng(1)
    volume = rng.integers(-1000, 3000, size=(SIZES[2], SIZES[1], SIZES[0])).astype(np.int16)
    factor = 5
    padding = block_padding(SIZES, factor, flip)
    mean = BlockMean(SIZES, factor, padding, np.dtype(np.float64))
    out = [s for s in (mean.add(volume[k]) for k in range(SIZES[2])) if s is not None] + [mean.finish()]
    np.testing.assert_allclose(np.stack(out), brute_block_mean(volume, factor, padding), rtol=1e-12)


def test_block_means_of_integers_are_rounded_into_the_same_type() -> None:
    volume = np.zeros((2, 2, 2), dtype=np.int16)
    volume[0, 0, 0], volume[1, 1, 1] = 3, 2  # mean 5/8
    mean = BlockMean((2, 2, 2), 2, (0, 0, 0), np.dtype(np.int16))
    assert mean.add(volume[0]) is None and mean.add(volume[1]) is None
    out = mean.finish()
    assert out.dtype == np.int16 and out.tolist() == [[1]]


def test_the_proxy_factor_is_the_smallest_that_fits_the_budget() -> None:
    cores = [((100, 100, 400), 2), ((100, 100, 390), 2)]
    full = sum(volume_bytes(s, b) for s, b in cores)
    assert smallest_factor(cores, full) == (1, True)
    budget = full // 20
    factor, fits = smallest_factor(cores, budget)
    assert fits and sum(volume_bytes(s, b, factor) for s, b in cores) <= budget
    assert sum(volume_bytes(s, b, factor - 1) for s, b in cores) > budget


def test_a_budget_too_small_for_one_voxel_per_core_is_reported_not_looped() -> None:
    assert smallest_factor([((10, 10, 10), 2)] * 3, 5) == (10, False)


@pytest.mark.parametrize("text, expected", [
    ("4G", 4 << 30), ("4GiB", 4 << 30), ("4gb", 4 * 10 ** 9), ("512MiB", 512 << 20), ("512M", 512 << 20),
    ("1.5G", int(1.5 * (1 << 30))), ("20k", 20 << 10), ("1500000000", 1500000000), ("2 TB", 2 * 10 ** 12),
])
def test_memory_sizes_are_binary_with_i_or_bare_and_decimal_with_b(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "four", "-1G", "0", "1e9", "4X"])
def test_a_memory_size_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_the_default_budget_is_a_quarter_of_the_ram() -> None:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert physical_memory() == ram and default_budget() == ram // 4
