"""A core crossed by an open fracture is one core: its section is the whole disc, the fracture is
void in the CT log, its unwrap has every row, and the plane picker finds the fracture — on the
sample well's kind of core (a 1 mm fracture dipping 70° through the whole diameter), bare and in
its plastic liner, whose every number is known."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import convert_tree

from CoreBatchLoaderLib.analysis.core_section import find_core_section
from CoreBatchLoaderLib.analysis.ct_log import read_log_csv, statistic
from CoreBatchLoaderLib.analysis.surroundings import decide_surroundings, sample_positions
from CoreBatchLoaderLib.analysis.unwrap_finish import MISSING_HU
from CoreBatchLoaderLib.nrrd.reader import read_header, read_slice
from CoreBatchLoaderLib.planes.tables import read_table
from CoreBatchLoaderLib.synthetic.phantoms import CorePhantom, Fracture, Layer, phantom_slice_hu, write_phantom
from CoreBatchLoaderLib.well.options import SceneOptions

TOP_M = 2450.0
FRACTURE = Fracture(along_mm=60.0, dip_deg=70.0, dip_direction_deg=158.0, aperture_mm=1.0)
BARE = CorePhantom(rows=96, columns=96, pixel_spacing=(0.5, 0.5), slice_spacing=1.0, slices=120, diameter_mm=28.8,
                   centre_mm=(0.4, -0.3), tilt_deg=1.0, tilt_azimuth_deg=30.0, noise_hu=35.0,
                   layers=(Layer(1e9, 2050.0),), fractures=(FRACTURE,), seed=5)
LINED = dataclasses.replace(BARE, liner="plastic", liner_inner_mm=32.64, liner_wall_mm=2.4, touching=True, seed=6)
PHANTOMS = {"bare": BARE, "lined": LINED}
DIAMETER_MM, CENTRE_PX, VOID_SHARE = 2.0, 1.0, 0.02  # the tolerances
DEPTH_MM, DIP_DEG, AZIMUTH_DEG = 5.0, 3.0, 8.0  # the plane picker's (REFERENCE §12)


def true_centre_ij(phantom: CorePhantom, k: int) -> np.ndarray:
    from CoreBatchLoaderLib.synthetic.phantoms import _slice_truth
    return np.array(_slice_truth(phantom, k)[0])


def fracture_slices(phantom: CorePhantom) -> range:
    """The slices the fracture crosses from edge to edge (1 mm inside the core's rim)."""
    reach = (phantom.diameter_mm / 2.0 - 1.0) * math.tan(math.radians(FRACTURE.dip_deg))
    return range(int(math.ceil(FRACTURE.along_mm - reach)), int(FRACTURE.along_mm + reach) + 1)


@pytest.mark.parametrize("kind", sorted(PHANTOMS))
def test_the_section_of_a_fractured_slice_is_the_whole_disc_about_the_axis(kind: str) -> None:
    """Every slice searched afresh (the batch carries sections; this is stricter): the fracture
    cuts the disc in two, the section is both pieces, the fracture its void."""
    phantom = PHANTOMS[kind]
    slices = [np.rint(phantom_slice_hu(phantom, k)).astype(np.int16) for k in range(phantom.slices)]
    around = decide_surroundings([slices[k] for k in sample_positions(len(slices))], (0.5, 0.5))
    assert (around.liner_hu is not None) == (kind == "lined"), around.describe()
    crossed = fracture_slices(phantom)
    assert len(crossed) > 60
    clean = dataclasses.replace(phantom, noise_hu=0.0)
    for k, values in enumerate(slices):
        section = find_core_section(values, (0.5, 0.5), min_core_hu=around.core_min_hu,
                                    max_core_hu=around.core_max_hu, fill_floor_hu=around.fill_floor_hu,
                                    excluded=around.excluded, ignore=around.beside)
        assert section is not None, k
        assert section.lined == (kind == "lined"), k
        assert abs(section.diameter_mm - phantom.diameter_mm) <= DIAMETER_MM, (k, section.diameter_mm)
        assert np.hypot(*(np.array(section.centre_ij) - true_centre_ij(phantom, k))) <= CENTRE_PX, k
        if k in crossed:
            void = float(np.mean(section.samples(values) < -500))
            # the fracture's area over the section's: the noise-free slice's open pixels in the mask
            truth = float(np.mean(phantom_slice_hu(clean, k)[section.mask] < -500))
            assert 0.0 < truth < 0.1, (k, truth)
            assert void > 0 and abs(void - truth) <= VOID_SHARE, (k, void, truth)


@pytest.mark.parametrize("kind", sorted(PHANTOMS))
def test_the_batch_logs_unwraps_and_picks_the_fracture(tmp_path: Path, kind: str) -> None:
    phantom = PHANTOMS[kind]
    truth = write_phantom(tmp_path / "in" / "core_001", phantom)
    length_m = phantom.slices * phantom.slice_spacing / 1000.0
    result = convert_tree(tmp_path / "in", tmp_path / "out", planes=True,
                          scene=SceneOptions(start_depth_m=TOP_M, core_length_m=length_m))
    assert result.exit_code == 0
    record = result.records[0]
    assert not [w for w in record.warnings if "strays" in w], record.warnings
    _, _, ks, rows = read_log_csv(tmp_path / "out" / record.ct_log)
    diameter, void = rows[:, statistic("DIAM")], rows[:, statistic("VOIDFR")]
    assert np.abs(diameter - phantom.diameter_mm).max() <= DIAMETER_MM
    centres = rows[:, [statistic("CENTI"), statistic("CENTJ")]]
    measured = ~np.isnan(centres[:, 0])
    assert np.hypot(*(centres[measured] - truth.centres_ij[measured]).T).max() <= CENTRE_PX
    crossed = np.array(fracture_slices(phantom))
    assert np.all(void[crossed] > 0)
    assert np.abs(void[crossed] - truth.void_fraction[crossed]).max() <= VOID_SHARE
    unwrap = read_slice(read_header(tmp_path / "out" / record.unwrap), 0)
    inner = slice(3, phantom.slices - 3)  # the tilted circle leaves the scan at the ends
    assert not (unwrap[inner] == MISSING_HU).any(axis=1).any()
    depth_m = TOP_M + (FRACTURE.along_mm + phantom.slice_spacing / 2.0) / 1000.0
    picks = [row for row in read_table(tmp_path / "out" / "well_planes.csv")
             if abs(row.depth - depth_m) * 1000.0 <= DEPTH_MM and row.kind == "fracture"]
    assert picks, read_table(tmp_path / "out" / "well_planes.csv")
    assert any(abs(row.dip_deg - FRACTURE.dip_deg) <= DIP_DEG
               and abs((row.azimuth_deg - FRACTURE.dip_direction_deg + 180.0) % 360.0 - 180.0) <= AZIMUTH_DEG
               for row in picks), picks
