"""Grid size per target: the config's grids, and the 250 m truth moved onto coarser grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wmp_pipeline.defs.hotspot.resources import HotspotResource
from wmp_pipeline.hotspot.config import CONNECT_CELL_SIZES, HotspotConfig
from wmp_pipeline.hotspot.grid import parse_cell_ids, regrid


def test_connect_defaults_are_the_forces_published_grids():
    cfg = HotspotConfig.weekly()
    assert dict(CONNECT_CELL_SIZES) == {"knife_injury": 1000, "serious_violence": 707}
    assert cfg.grids() == {1000: ("knife_injury",), 707: ("serious_violence",)}
    assert 707**2 / 1e6 == pytest.approx(0.5, abs=0.001)
    assert cfg.for_grid(707).cell_size_m == 707 and cfg.for_grid(707).targets == cfg.targets
    # 250 m kept as an option; police.uk's monthly set-up keeps its own single grid
    assert HotspotConfig.weekly(target_cell_sizes=()).grids() == {250: ("knife_injury", "serious_violence")}
    assert HotspotConfig.monthly().grids() == {250: ("knife_injury", "serious_violence")}
    with pytest.raises(ValueError, match="not targets"):
        HotspotConfig.weekly(target_cell_sizes=(("robbery", 500),))


def test_the_resource_builds_the_one_config_and_its_defaults_are_the_dataclass_ones():
    assert HotspotResource().config() == HotspotConfig.weekly()
    cfg = HotspotResource(cell_sizes_m={"knife_injury": 250, "serious_violence": 250}, retrain_every_weeks=2).config()
    assert cfg.grids() == {250: ("knife_injury", "serious_violence")} and cfg.retrain_every == 2
    # the cadences do not change what the panel and models are: same fingerprint
    assert cfg.fingerprint() == cfg.replace(retrain_every=8, refit_every=4).fingerprint()
    assert cfg.fingerprint() != cfg.replace(footprint_buffer_m=750.0).fingerprint()


def test_regrid_keeps_the_total_and_is_exact_on_whole_multiples():
    ids = ["250m_1000_2000", "250m_1250_2000", "250m_1750_2750", "250m_2000_2000"]
    frame = pd.DataFrame({"target": "knife_injury", "cell_id": ids, "expected_count": [1.0, 2.0, 4.0, 8.0]})
    out = regrid(frame, 1000, "expected_count", ["target"]).set_index("cell_id")["expected_count"]
    assert out.to_dict() == {"1000m_1000_2000": 7.0, "1000m_2000_2000": 8.0}
    on707 = regrid(frame, 707, "expected_count", ["target"])
    assert on707["expected_count"].sum() == pytest.approx(15.0)
    # 250m_1250_1500 spans x 1250-1500 across the 707 m line at x=1414 (y 1500-1750 within one row): split by area
    one = pd.DataFrame({"target": ["knife_injury"], "cell_id": ["250m_1250_1500"], "expected_count": [2.0]})
    part = regrid(one, 707, "expected_count", ["target"]).set_index("cell_id")["expected_count"]
    assert part["707m_707_1414"] == pytest.approx(2.0 * 164 / 250)
    assert part["707m_1414_1414"] == pytest.approx(2.0 * 86 / 250)
    assert parse_cell_ids(on707["cell_id"])["size"].eq(707).all()
    with pytest.raises(ValueError, match="not a grid cell id"):
        parse_cell_ids(["E01000001"])
    assert np.isfinite(on707["expected_count"]).all()
