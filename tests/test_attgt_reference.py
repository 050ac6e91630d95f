"""``bijstand.did.attgt``/``aggte`` against R ``did`` 2.5.1 on ``mpdta`` (tests/fixtures/r_did_mpdta/README.md).

Every analytic number of the 40 fixture files (ATT(g,t), standard errors, overall and per-row aggregations) must be
reproduced to 1e-10; bootstrap fixtures are compared in distribution only (R's random draws cannot be replayed).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import moderndid
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bijstand.did.attgt import att_gt, estimate_cells, panel_arrays

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
SPECS = {"unc_dr": (None, "dr"), "lpop_dr": (["lpop"], "dr"), "lpop_ipw": (["lpop"], "ipw"),
         "lpop_reg": (["lpop"], "reg")}
CONTROLS = {"never": "never", "notyet": "notyet"}
PARTS = ("attgt", "simple", "dynamic", "group", "calendar")
ROW_KEY = {"dynamic": "event_time", "group": "group", "calendar": "time"}
ANALYTIC = [(control, spec, part) for control in CONTROLS for spec in SPECS for part in PARTS]



@pytest.fixture(scope="module")
def fits(mpdta):
    cache = {}

    def fit(control: str, spec: str, **options):
        key = (control, spec, tuple(sorted(options.items())))
        if key not in cache:
            covariates, method = SPECS[spec]
            cache[key] = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat",
                                covariates=covariates, control_group=CONTROLS[control], method=method, **options)
        return cache[key]

    return fit


def test_fixture_set_is_complete():
    assert len(ANALYTIC) == 40
    for control, spec, part in ANALYTIC:
        assert (FIXTURES / f"mpdta_{control}_{spec}_analytic_{part}.csv").is_file()


@pytest.mark.reference
@pytest.mark.parametrize(("control", "spec", "part"), ANALYTIC, ids=["_".join(a) for a in ANALYTIC])
def test_analytic_numbers_match_r(fits, control, spec, part):
    ref = pd.read_csv(FIXTURES / f"mpdta_{control}_{spec}_analytic_{part}.csv")
    result = fits(control, spec)
    if part == "attgt":
        table = result.table
        np.testing.assert_array_equal(table[["group", "time"]].to_numpy(), ref[["group", "time"]].to_numpy())
        np.testing.assert_allclose(table["estimate"], ref["att"], atol=1e-10, rtol=0)
        np.testing.assert_allclose(table["se"], ref["se"], atol=1e-10, rtol=0)
        np.testing.assert_allclose(table["ci_lower"], ref["conf_low"], atol=1e-9, rtol=0)
        np.testing.assert_allclose(table["ci_upper"], ref["conf_high"], atol=1e-9, rtol=0)
        assert result.influence.shape == (500, len(ref))
        return
    agg = result.aggregate(part)
    overall = ref[ref["row"] == "overall"].iloc[0]
    np.testing.assert_allclose([agg.overall.estimate, agg.overall.se], [overall["att"], overall["se"]],
                               atol=1e-10, rtol=0)
    np.testing.assert_allclose([agg.overall.ci_lower, agg.overall.ci_upper],
                               [overall["conf_low"], overall["conf_high"]], atol=1e-9, rtol=0)
    if part == "simple":
        assert agg.table.empty
        return
    detail = ref[ref["row"] == "detail"]
    np.testing.assert_array_equal(agg.table[ROW_KEY[part]].to_numpy(), detail[ROW_KEY[part]].to_numpy())
    np.testing.assert_allclose(agg.table["estimate"], detail["att"], atol=1e-10, rtol=0)
    np.testing.assert_allclose(agg.table["se"], detail["se"], atol=1e-10, rtol=0)
    np.testing.assert_allclose(agg.table["ci_lower"], detail["conf_low"], atol=1e-9, rtol=0)


@pytest.mark.reference
@pytest.mark.parametrize("control", list(CONTROLS))
def test_bootstrap_agrees_with_r_in_distribution(fits, control):
    """R used set.seed(9152024) with (Rademacher) multipliers and 1000 draws; ours differ, so compare SEs within 15%
    (Monte Carlo error of an IQR-based SE with 1000 draws is ~3-4%) and the sup-t critical value."""
    result = fits(control, "unc_dr", n_boot=1000, seed=20240915)
    ref = pd.read_csv(FIXTURES / f"mpdta_{control}_unc_dr_boot_attgt.csv")
    np.testing.assert_allclose(result.table["estimate"], ref["att"], atol=1e-10, rtol=0)
    ratio = result.table["se"].to_numpy() / ref["se"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.15), ratio
    assert abs(np.median(ratio) - 1) < 0.06
    # uniform band over 12 cells: R 2.73; must lie between the pointwise 1.96 and Bonferroni's 2.87 (+ noise)
    assert abs(result.band_crit_value - ref["crit_val"].iloc[0]) < 0.25
    assert 1.96 < result.band_crit_value < 3.1
    assert {"ucb_lower", "ucb_upper"} <= set(result.table.columns)

    for part in ("dynamic", "group", "calendar", "simple"):
        ref = pd.read_csv(FIXTURES / f"mpdta_{control}_unc_dr_boot_{part}.csv")
        agg = result.aggregate(part, seed=20240916)
        overall = ref[ref["row"] == "overall"].iloc[0]
        assert agg.overall.estimate == pytest.approx(overall["att"], abs=1e-10)
        assert agg.overall.se == pytest.approx(overall["se"], rel=0.15)
        if part != "simple":
            detail = ref[ref["row"] == "detail"]
            np.testing.assert_allclose(agg.table["se"], detail["se"], rtol=0.15)
            assert abs(agg.band_crit_value - detail["crit_val"].iloc[0]) < 0.3


def test_bootstrap_is_reproducible_given_the_seed(mpdta):
    common = dict(y="lemp", unit="countyreal", time="year", group="first.treat", n_boot=199)
    a = att_gt(mpdta, seed=5, **common)
    b = att_gt(mpdta, seed=5, **common)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = att_gt(mpdta, seed=6, **common)
    assert not np.allclose(a.table["se"], c.table["se"])


def test_matches_moderndid_with_universal_base_period_and_anticipation(mpdta):
    """Options without R fixtures, checked against moderndid (a port that reproduces R)."""
    for base_period, anticipation in (("universal", 0), ("varying", 1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat",
                          base_period=base_period, anticipation=anticipation, control_group="notyet")
        # with one period of anticipation the 2004 cohort has no pre-period: R drops its 20 units with a warning
        assert [str(w.message) for w in caught] == (
            ["att_gt: dropped 20 units that were already treated in the first period"] if anticipation else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = moderndid.att_gt(data=mpdta, yname="lemp", tname="year", idname="countyreal",
                                      gname="first.treat", control_group="notyettreated",
                                      base_period=base_period, anticipation=anticipation, boot=False, cband=False)
        np.testing.assert_allclose(ours.table["estimate"], np.asarray(theirs.att_gt), atol=1e-10)
        np.testing.assert_allclose(ours.table["se"].fillna(0), np.nan_to_num(np.asarray(theirs.se_gt)), atol=1e-10)


def test_all_units_eventually_treated_drops_last_cohort_like_r(mpdta):
    """Without never-treated units R compares with the last cohort (2007) and drops periods >= 2007."""
    treated_only = mpdta[mpdta["first.treat"] > 0]
    result = att_gt(treated_only, y="lemp", unit="countyreal", time="year", group="first.treat",
                    control_group="notyet")
    assert set(result.table["group"]) == {2004, 2006}
    assert result.table["time"].max() == 2006
    assert (result.unit_groups == 0).sum() == (treated_only.drop_duplicates("countyreal")["first.treat"]
                                                == 2007).sum()
    with pytest.raises(ValueError, match="no never-treated units; use control_group='notyet'"):
        att_gt(treated_only, y="lemp", unit="countyreal", time="year", group="first.treat")
    # the same numbers as treating the 2007 cohort as never treated on 2003-2006
    recoded = treated_only[treated_only["year"] < 2007].assign(
        **{"first.treat": lambda d: d["first.treat"].where(d["first.treat"] < 2007, 0)})
    direct = att_gt(recoded, y="lemp", unit="countyreal", time="year", group="first.treat", control_group="notyet")
    np.testing.assert_allclose(result.table["estimate"], direct.table["estimate"], atol=1e-12)
    np.testing.assert_allclose(result.table["se"], direct.table["se"], atol=1e-12)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.drop(index=d.index[3]), "unbalanced: countyreal"),
    (lambda d: d.assign(lemp=d["lemp"].where(d.index != 7)), "column 'lemp' has missing values"),
    (lambda d: d.assign(lemp=d["lemp"].astype(str)), "column 'lemp' must be numeric"),
    (lambda d: d.assign(**{"first.treat": d["first.treat"].replace(2006, 2005.5)}),
     "column 'first.treat' has value 2005.5 .* not one of the periods in column 'year'"),
    (lambda d: d.assign(**{"first.treat": np.where(d.index == 0, 2006, d["first.treat"])}),
     "column 'first.treat' must be constant within each countyreal"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), r"duplicate \(countyreal, year\) rows"),
    (lambda d: d.rename(columns={"lemp": "y"}), "column 'lemp' is not in the data"),
])
def test_bad_input_raises_with_the_column_named(mpdta, mutate, message):
    with pytest.raises(ValueError, match=message):
        att_gt(mutate(mpdta.reset_index(drop=True)), y="lemp", unit="countyreal", time="year", group="first.treat")


def test_bad_options_raise(mpdta):
    common = dict(y="lemp", unit="countyreal", time="year", group="first.treat")
    with pytest.raises(ValueError, match="control_group must be one of"):
        att_gt(mpdta, control_group="not_yet", **common)
    with pytest.raises(ValueError, match="method must be one of"):
        att_gt(mpdta, method="ols", **common)
    with pytest.raises(ValueError, match="base_period must be one of"):
        att_gt(mpdta, base_period="univeral", **common)
    with pytest.raises(ValueError, match="multiplier must be one of"):
        att_gt(mpdta, multiplier="gaussian", **common)
    with pytest.raises(ValueError, match="critical must be one of"):
        att_gt(mpdta, critical="student", **common)
    with pytest.raises(ValueError, match="kind must be one of"):
        att_gt(mpdta, **common).aggregate("event")


@pytest.mark.parametrize(("alias", "canonical"), [("nevertreated", "never"), ("notyettreated", "notyet")])
def test_r_spellings_of_control_group_are_aliases(mpdta, alias, canonical):
    common = dict(y="lemp", unit="countyreal", time="year", group="first.treat")
    r_spelling = att_gt(mpdta, control_group=alias, **common)
    assert r_spelling.options["control_group"] == canonical
    pd.testing.assert_frame_equal(r_spelling.table, att_gt(mpdta, control_group=canonical, **common).table)


def test_misspelt_options_raise_in_the_array_level_entry_point_too(mpdta):
    """estimate_cells (used by randomisation inference) used to treat any control_group other than "notyet" as
    "never" and any base_period other than "universal" as "varying"; now every path raises."""
    panel = panel_arrays(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat")
    notyet = estimate_cells(panel, control_group="notyet")
    np.testing.assert_array_equal(estimate_cells(panel, control_group="notyettreated").att, notyet.att)
    for bad in ("not_yet", "Never", "nevertreted"):
        with pytest.raises(ValueError, match="control_group must be one of"):
            estimate_cells(panel, control_group=bad)
    with pytest.raises(ValueError, match="base_period must be one of"):
        estimate_cells(panel, base_period="Universal")
    with pytest.raises(ValueError, match="method must be one of"):
        estimate_cells(panel, method="DR")


def test_critical_t_uses_t_with_clusters_minus_one(mpdta):
    common = dict(y="lemp", unit="countyreal", time="year", group="first.treat")
    normal = att_gt(mpdta, **common)
    student = att_gt(mpdta, critical="t", **common)
    assert (normal.dof, student.dof) == (None, 499)
    assert student.crit_value == pytest.approx(stats.t.ppf(0.975, 499), rel=1e-12)
    np.testing.assert_array_equal(student.table["se"], normal.table["se"])
    np.testing.assert_allclose(student.table["ci_upper"] - student.table["estimate"],
                               student.crit_value * student.table["se"], rtol=1e-12)
    np.testing.assert_allclose(student.table["p_value"], 2 * stats.t.sf(np.abs(student.table["statistic"]), 499),
                               rtol=1e-12)
    overall = student.aggregate("dynamic").overall
    assert (overall.dof, overall.n_clusters) == (499, 500)
    assert overall.ci_upper - overall.estimate == pytest.approx(stats.t.ppf(0.975, 499) * overall.se, rel=1e-12)
    # the aggregation can override att_gt's choice
    assert normal.aggregate("dynamic", critical="t").overall.dof == 499
    assert student.aggregate("dynamic", critical="normal").overall.dof is None


def test_results_follow_the_vocabulary(mpdta):
    result = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat", n_boot=99, seed=1)
    assert list(result.table.columns) == ["group", "time", "estimate", "se", "statistic", "p_value", "ci_lower",
                                          "ci_upper", "ucb_lower", "ucb_upper", "post"]
    pd.testing.assert_frame_equal(result.tidy(), result.table)
    dynamic = result.aggregate("dynamic")
    assert list(dynamic.table.columns) == ["event_time", "estimate", "se", "statistic", "p_value", "ci_lower",
                                           "ci_upper", "ucb_lower", "ucb_upper"]
    table = dynamic.table
    np.testing.assert_allclose(table["statistic"], table["estimate"] / table["se"], rtol=1e-12)
    assert dynamic.overall.inference.startswith("multiplier bootstrap (rademacher, 99 draws)")
    text = str(dynamic)
    assert text == dynamic.summary()
    for label, value in (("Aggregation", "dynamic (event study)"), ("Control group", "never treated"),
                         ("Base period", "varying"), ("Units", "500"), ("Clusters", "500 (units)"),
                         ("Inference", "multiplier bootstrap"), ("Critical value", "1.96 from N(0,1)")):
        assert re.search(rf"^{label}: +{re.escape(value)}", text, flags=re.MULTILINE), (label, value)
    # R's did prints a star where the (uniform) band excludes 0
    band_excludes_zero = (table["ucb_lower"] > 0) | (table["ucb_upper"] < 0)
    starred = [line.rstrip().endswith("*") for line in text.split("Dynamic effects:")[1].splitlines()[2:2 + len(table)]]
    assert starred == band_excludes_zero.tolist()
    glance = dynamic.glance()
    assert len(glance) == 1 and glance.loc[0, "n_units"] == 500 and glance.loc[0, "aggregation"] == "dynamic"
    assert result.glance().loc[0, "n_cells"] == 12
    assert result.overall.estimate == pytest.approx(result.aggregate("simple").overall.estimate, abs=0)


def test_never_treated_as_nan_and_groups_after_window_are_never_treated(mpdta):
    base = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat")
    as_nan = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(0, np.nan)})
    pd.testing.assert_frame_equal(att_gt(as_nan, y="lemp", unit="countyreal", time="year",
                                         group="first.treat").table, base.table)
    late = mpdta.assign(**{"first.treat": mpdta["first.treat"].replace(0, 2010)})
    pd.testing.assert_frame_equal(att_gt(late, y="lemp", unit="countyreal", time="year",
                                         group="first.treat").table, base.table)


def test_dynamic_event_window_and_balance(fits):
    result = fits("never", "unc_dr")
    full = result.aggregate("dynamic")
    window = result.aggregate("dynamic", min_e=-2, max_e=2)
    assert window.table["event_time"].tolist() == [-2, -1, 0, 1, 2]
    np.testing.assert_allclose(window.table["estimate"],
                               full.table.set_index("event_time").loc[[-2, -1, 0, 1, 2], "estimate"])
    balanced = result.aggregate("dynamic", balance_e=1)
    # only cohorts observed one period after treatment (2004, 2006) enter; e = 1 then averages just those
    assert balanced.table["event_time"].max() == 1
    cells = result.table
    e1 = cells[(cells["time"] - cells["group"] == 1) & cells["group"].isin([2004, 2006])]
    sizes = pd.Series(result.unit_groups).value_counts()
    expected = np.average(e1["estimate"], weights=sizes.loc[e1["group"]].to_numpy())
    assert balanced.table.set_index("event_time").loc[1, "estimate"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("covariates", [None, ["lpop"]])
def test_sampling_weights_match_moderndid(mpdta, covariates):
    """No R fixture has weights; moderndid (which reproduces R) is the oracle, including p_g with weights."""
    rng = np.random.default_rng(0)
    units = mpdta["countyreal"].unique()
    data = mpdta.assign(sw=mpdta["countyreal"].map(dict(zip(units, rng.uniform(0.5, 2.0, units.size)))))
    ours = att_gt(data, y="lemp", unit="countyreal", time="year", group="first.treat", weights="sw",
                  covariates=covariates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = moderndid.att_gt(data=data, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                                  weightsname="sw", xformla="~lpop" if covariates else None, boot=False, cband=False)
        dynamic = moderndid.aggte(theirs, type="dynamic", boot=False, cband=False)
    np.testing.assert_allclose(ours.table["estimate"], np.asarray(theirs.att_gt), atol=1e-10)
    np.testing.assert_allclose(ours.table["se"], np.asarray(theirs.se_gt), atol=1e-10)
    agg = ours.aggregate("dynamic")
    np.testing.assert_allclose([agg.overall.estimate, agg.overall.se], [dynamic.overall_att, dynamic.overall_se],
                               atol=1e-10)
    np.testing.assert_allclose(agg.table["se"], np.asarray(dynamic.se_by_event), atol=1e-10)
