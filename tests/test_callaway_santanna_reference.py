"""Callaway–Sant'Anna ATT(g,t) and aggregations against R ``did`` 2.5.1 on ``mpdta`` (tests/fixtures/r_did_mpdta)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bijstand.did.callaway_santanna import att_gt

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
SPECS = {"unc_dr": (None, "dr"), "lpop_dr": (["lpop"], "dr"), "lpop_ipw": (["lpop"], "ipw"),
         "lpop_reg": (["lpop"], "reg")}
KINDS = ("simple", "dynamic", "group", "calendar")
DETAIL_KEY = {"dynamic": "event_time", "group": "group", "calendar": "time"}


@pytest.fixture(scope="module")
def mpdta():
    moderndid = pytest.importorskip("moderndid")
    data = moderndid.load_mpdta()
    return data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)


@pytest.fixture(scope="module")
def fits(mpdta):
    out = {}
    for control in ("never", "notyet"):
        for spec, (covariates, method) in SPECS.items():
            out[control, spec] = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat",
                                        covariates=covariates, control_group=control, method=method)
    return out


@pytest.mark.reference
@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("spec", list(SPECS))
def test_attgt_matches_r(fits, control, spec):
    ref = pd.read_csv(FIXTURES / f"mpdta_{control}_{spec}_analytic_attgt.csv")
    table = fits[control, spec].table
    np.testing.assert_array_equal(table[["group", "time"]].to_numpy(), ref[["group", "time"]].to_numpy())
    np.testing.assert_allclose(table["att"], ref["att"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(table["se"], ref["se"], rtol=0, atol=1e-10)


@pytest.mark.reference
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("control", ["never", "notyet"])
@pytest.mark.parametrize("spec", list(SPECS))
def test_aggregation_matches_r(fits, control, spec, kind):
    ref = pd.read_csv(FIXTURES / f"mpdta_{control}_{spec}_analytic_{kind}.csv")
    agg = fits[control, spec].aggregate(kind)
    overall = ref[ref["row"] == "overall"].iloc[0]
    assert agg.overall["att"] == pytest.approx(overall["att"], abs=1e-10, rel=0)
    assert agg.overall["se"] == pytest.approx(overall["se"], abs=1e-10, rel=0)
    if kind != "simple":
        detail = ref[ref["row"] == "detail"]
        key = DETAIL_KEY[kind]
        ref_key = "event_time" if kind == "dynamic" else key
        np.testing.assert_array_equal(agg.table[key].to_numpy(), detail[ref_key].to_numpy())
        np.testing.assert_allclose(agg.table["att"], detail["att"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(agg.table["se"], detail["se"], rtol=0, atol=1e-10)
