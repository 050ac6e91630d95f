"""Synthetic register: contracts, known truth (common random numbers), determinism, scale, schedule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bijstand.data.cbs import load_national_monthly
from bijstand.data.panel import PANEL_COLUMNS, build_area_panel
from bijstand.data.periods import month_to_period
from bijstand.data.synthetic import (
    COHORT_SCHEDULE,
    Effects,
    read_register,
    simulate_area_panel,
    simulate_register,
    true_aggregate,
)

SCALE = 0.05
SEED = 7


@pytest.fixture(scope="module")
def register():
    return simulate_register(seed=SEED, scale=SCALE)


@pytest.fixture(scope="module")
def placebo():
    """Same seed and scale without any effect: the world every intervention's counterfactual lives in."""
    return simulate_register(seed=SEED, scale=SCALE, effects=Effects.none())


def test_spells_follow_the_contract(register):
    spells = register.spells
    assert list(spells.columns) == ["person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason",
                                    "birth_year", "education", "refugee", "exempt"]
    assert spells["person_id"].dtype == np.int64 and spells["birth_year"].dtype == np.int64
    assert spells["spell_start"].dtype == "datetime64[ns]" and spells["spell_end"].dtype == "datetime64[ns]"
    assert (spells["spell_start"].dt.day == 1).all()
    assert (spells["exit_reason"].isna() == spells["spell_end"].isna()).all()
    assert set(spells["exit_reason"].dropna()) == {"work", "enforcement", "other"}
    assert set(spells["education"]) == {"low", "middle", "high"}
    assert spells["refugee"].dtype == bool and spells["exempt"].dtype == bool
    # at most one running spell per person, and no re-entry in the month right after an exit (CBS 30-day rule)
    ordered = spells.sort_values(["person_id", "spell_start"])
    previous_end = ordered.groupby("person_id")["spell_end"].shift()
    gap = (ordered["spell_start"].dt.year - previous_end.dt.year) * 12 + (
        ordered["spell_start"].dt.month - previous_end.dt.month)
    assert (gap.dropna() >= 2).all()
    areas = register.areas
    assert len(areas) == 22 + 42 + 10
    assert set(spells["area"]) <= set(areas["area"])


def test_simulated_panel_equals_duckdb_panel(register):
    """The panel counted during the simulation is exactly the SQL panel of the written spells."""
    panel = build_area_panel(register.spells, register.areas)
    pd.testing.assert_frame_equal(panel, register.panel)
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert len(panel) == len(register.areas) * 120


def test_schedule_matches_the_seed_documents(register):
    areas = register.areas.set_index("area_name")
    assert areas.loc["Bijlmer Oost", "cohort_start"] == pd.Timestamp("2019-09-01")
    assert areas.loc["Centrum West", "cohort_start"] == pd.Timestamp("2019-11-01")
    assert areas.loc["Centrum Oost", "cohort_start"] == pd.Timestamp("2019-11-01")
    assert areas.loc["Osdorp", "cohort_start"] == pd.Timestamp("2019-12-01")
    amsterdam = register.areas[register.areas["municipality"] == "GM0363"]
    others = amsterdam[~amsterdam["area_name"].isin(["Bijlmer Oost", "Centrum West", "Centrum Oost", "Osdorp"])]
    assert len(others) == 18 and (others["cohort_start"].dt.year == 2020).all()
    assert len(COHORT_SCHEDULE) == 22
    # outreach starts (boroughs, 2017-2018) all precede the first cohort start
    assert amsterdam["outreach_start"].max() < amsterdam["cohort_start"].min()
    assert amsterdam["outreach_start"].nunique() == 7
    rotterdam = register.areas[register.areas["municipality"] == "GM0599"]
    assert len(rotterdam) == 42 and rotterdam["counter_performance_start"].dt.year.between(2016, 2019).all()
    assert rotterdam["cohort_start"].isna().all()
    panel = register.panel.drop_duplicates("area").set_index("area")
    assert panel.loc["AMS21", "first_treat_cohort"] == month_to_period(pd.Timestamp("2019-09-01")) == 57
    assert panel.loc["GM0362", ["first_treat_cohort", "first_treat_counter", "first_treat_outreach"]].eq(0).all()


def test_truth_is_zero_before_start_and_positive_after(register):
    truth = register.truth
    assert set(truth["intervention"]) == {"cohort", "counter", "outreach"}
    pre = truth[truth["period"] < truth["group"]]
    # a share is undefined (NaN) in a cell where no treated area had any inflow; then n_areas is 0
    assert (truth.loc[truth["att"].isna(), "n_areas"] == 0).all()
    assert len(pre) > 0 and (pre["att"].dropna() == 0.0).all() and pre["att"].notna().mean() > 0.9
    post = truth[truth["period"] >= truth["group"] + 6]

    def mean(intervention, outcome):
        cells = post[(post["intervention"] == intervention) & (post["outcome"] == outcome)]
        return cells["att"].mean()

    assert mean("cohort", "outflow_work_rate") > 0.05            # pp per month
    assert mean("cohort", "stock") < 0                            # more exits -> fewer recipients
    assert mean("counter", "outflow_enforcement_rate") > 0.005
    assert abs(mean("counter", "outflow_work_rate")) < mean("counter", "outflow_enforcement_rate")
    assert mean("outreach", "outflow_work_rate") > 0
    groups = truth[truth["intervention"] == "cohort"].groupby("group")["n_areas"].max()
    assert groups.sum() == 22 and groups.loc[57] == 1


def test_truth_equals_difference_of_worlds_for_rotterdam(register, placebo):
    """Rotterdam has only the counter-performance: its truth is the full world minus the world without effects
    (same seed -> same uniforms), computed here independently from two simulations."""
    assert (placebo.truth["att"].dropna() == 0.0).all() and placebo.truth["att"].notna().mean() > 0.9
    keys = ["area", "period"]
    full = register.panel[register.panel["municipality"] == "GM0599"].set_index(keys)
    none = placebo.panel[placebo.panel["municipality"] == "GM0599"].set_index(keys)
    diff = (full["outflow_enforcement_rate"] - none["outflow_enforcement_rate"]).rename("diff").reset_index()
    diff["group"] = full["first_treat_counter"].to_numpy()
    expected = diff.groupby(["group", "period"])["diff"].mean()
    truth = register.truth.query("intervention == 'counter' and outcome == 'outflow_enforcement_rate'")
    got = truth.set_index(["group", "period"])["att"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    # comparison municipalities are untouched by any intervention
    comparison = register.panel[~register.panel["municipality"].isin(["GM0363", "GM0599"])]
    comparison_none = placebo.panel[~placebo.panel["municipality"].isin(["GM0363", "GM0599"])]
    pd.testing.assert_frame_equal(comparison.reset_index(drop=True), comparison_none.reset_index(drop=True))


@pytest.mark.slow  # ~8 s: four att_gt fits
def test_did_error_is_exactly_the_estimator_on_the_world_without_the_intervention(register, placebo):
    """The truth is the estimand Callaway-Sant'Anna recovers: estimate - truth = the same estimator on the placebo
    world, for every ATT(g,t) cell and aggregate.

    This holds because (i) leavers re-enter in their own area, so the not-yet-treated controls are identical in
    both worlds until their own start (no spill-over), (ii) the truth uses the panel's own rates (count / stock of
    each area and world, averaged over areas) and group sizes as weights, and (iii) CS without covariates is
    linear in the outcome. A gap between CS and the truth on one register is therefore noise of the world without
    the intervention (the base month g-1 of each group), not a flaw of the truth. Guards against a truth built
    from pooled counts, weights other than aggte's, or re-entry into another area.
    """
    from bijstand.did.attgt import att_gt
    from bijstand.did.compare import intervention_panel, true_dynamic, true_simple

    moved = register.spells.groupby("person_id")["area"].nunique()
    assert (register.spells.groupby("person_id").size() > 1).sum() > 1000 and (moved == 1).all()
    for outcome in ("outflow_enforcement_rate", "outflow_work_rate"):
        fits = {}
        for name, world in (("all", register), ("placebo", placebo)):
            panel = intervention_panel(world.panel, "counter", municipality="GM0599", start="2015-01",
                                       end="2019-12")
            assert panel[outcome].notna().all()
            fits[name] = att_gt(panel, y=outcome, unit="area", time="period", group="group",
                                control_group="notyet", method="dr", cluster="area")
        cells = fits["all"].table[["group", "time"]]
        pd.testing.assert_frame_equal(cells, fits["placebo"].table[["group", "time"]])
        gap = fits["all"].table["estimate"].to_numpy() - fits["placebo"].table["estimate"].to_numpy()
        truth = cells.merge(register.truth.query("intervention == 'counter' and outcome == @outcome")
                            .rename(columns={"period": "time"}), on=["group", "time"], how="left")
        expected = np.where(truth["time"] >= truth["group"], truth["att"], 0.0)   # pre-period cells: zero effect
        np.testing.assert_allclose(gap, expected, rtol=0, atol=1e-10)
        simple = {name: fit.aggregate("simple").overall.estimate for name, fit in fits.items()}
        true_att = true_simple(register.truth, "counter", outcome, cells)
        assert simple["all"] - simple["placebo"] == pytest.approx(true_att, rel=0, abs=1e-10)
        if outcome == "outflow_enforcement_rate":
            assert true_att > 0.01    # a real effect, so the identity is not 0 == 0
        dynamic = {name: fit.aggregate("dynamic").table.set_index("event_time")["estimate"]
                   for name, fit in fits.items()}
        true_dyn = true_dynamic(register.truth, "counter", outcome, cells).set_index("event_time")["att"]
        np.testing.assert_allclose((dynamic["all"] - dynamic["placebo"]).loc[0:].to_numpy(),
                                   true_dyn.loc[0:].to_numpy(), rtol=0, atol=1e-10)


def test_world_panels_give_the_truth_by_difference(register):
    """Every simulated world has a panel; all minus without-k, averaged over a start group, is the truth."""
    worlds = register.world_panels
    assert sorted(worlds) == ["all", "without_cohort", "without_counter", "without_outreach"]
    assert worlds["all"] is register.panel
    assert set(worlds["without_cohort"]["municipality"]) == {"GM0363"}
    assert set(worlds["without_outreach"]["municipality"]) == {"GM0363"}
    assert set(worlds["without_counter"]["municipality"]) == {"GM0599"}
    for world, frame in worlds.items():
        assert list(frame.columns) == list(PANEL_COLUMNS), world
    keys = ["area", "period"]
    full = worlds["all"].set_index(keys)
    without = worlds["without_cohort"].set_index(keys)
    diff = (full["outflow_work_rate"].reindex(without.index) - without["outflow_work_rate"]).rename("att")
    frame = diff.reset_index().assign(group=without["first_treat_cohort"].to_numpy())
    expected = frame.groupby(["group", "period"])["att"].mean()
    truth = register.truth.query("intervention == 'cohort' and outcome == 'outflow_work_rate'")
    pd.testing.assert_series_equal(truth.set_index(["group", "period"])["att"], expected, check_names=False)
    # before an area's start both worlds are identical, after it the effect shows
    start = without["first_treat_cohort"]
    pre = diff[without.index.get_level_values("period") < start.to_numpy()]
    assert (pre == 0).all() and len(pre) == 22 * 120 - int((120 - start.groupby("area").first() + 1).sum())
    assert diff[without.index.get_level_values("period") >= start.to_numpy() + 6].mean() > 0.05


def test_same_seed_same_bytes(register, tmp_path):
    again = simulate_register(seed=SEED, scale=SCALE)
    pd.testing.assert_frame_equal(again.spells, register.spells)
    register.write(tmp_path / "a")
    again.write(tmp_path / "b")
    for name in ("spells.parquet", "panel.parquet", "panel_without_cohort.parquet", "panel_without_counter.parquet",
                 "panel_without_outreach.parquet", "areas.csv", "truth.csv", "metadata.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    back = read_register(tmp_path / "a")
    assert sorted(back.world_panels) == sorted(register.world_panels)
    for world, frame in register.world_panels.items():
        pd.testing.assert_frame_equal(back.world_panels[world], frame)
    pd.testing.assert_frame_equal(back.spells, register.spells)
    pd.testing.assert_frame_equal(back.areas, register.areas)
    assert back.params["seed"] == SEED and back.params["effects"]["cohort_work_multiplier"] == 1.9
    other = simulate_register(seed=SEED + 1, scale=SCALE)
    assert not other.spells["spell_start"].equals(register.spells["spell_start"])


def test_municipalities_counterfactuals_and_no_spells_give_the_same_numbers(register):
    """A register of Amsterdam only, with only the world without the cohort approach and no spells, is exactly
    the Amsterdam part of the full register (random numbers per municipality do not depend on the others)."""
    small = simulate_register(seed=SEED, scale=SCALE, municipalities=("GM0363",), counterfactuals=("cohort",),
                              record_spells=False)
    assert sorted(small.world_panels) == ["all", "without_cohort"]
    assert set(small.areas["municipality"]) == {"GM0363"} and len(small.areas) == 22
    assert list(small.spells.columns) == list(register.spells.columns) and len(small.spells) == 0
    assert (small.spells.dtypes == register.spells.dtypes).all()
    for world in ("all", "without_cohort"):
        full = register.world_panels[world]
        pd.testing.assert_frame_equal(small.world_panels[world],
                                      full[full["municipality"] == "GM0363"].reset_index(drop=True))
    pd.testing.assert_frame_equal(small.truth.reset_index(drop=True),
                                  register.truth[register.truth["intervention"] == "cohort"].reset_index(drop=True))
    assert small.params["municipalities"] == ["GM0363"] and small.params["n_spells"] is None
    # a comparison municipality is simulated only when listed
    two = simulate_register(seed=SEED, scale=SCALE, municipalities=("GM0599", "GM0362"), counterfactuals=())
    assert set(two.panel["municipality"]) == {"GM0599", "GM0362"} and len(two.truth) == 0
    code = "GM0599"   # comparison municipalities share one random stream, so only whole blocks reproduce
    pd.testing.assert_frame_equal(two.panel[two.panel["municipality"] == code].reset_index(drop=True),
                                  register.panel[register.panel["municipality"] == code].reset_index(drop=True))
    with pytest.raises(ValueError, match="counterfactuals must be among"):
        simulate_register(seed=SEED, scale=SCALE, municipalities=("GM0363",), counterfactuals=("cohorts",))


def test_scale_multiplies_sizes(register):
    double = simulate_register(seed=SEED, scale=2 * SCALE)
    stock = register.panel.query("period == 1").set_index("area")["stock"]
    stock2 = double.panel.query("period == 1").set_index("area")["stock"]
    # areas are sized to recipients_2018 and taken back to 2015-01 with the national caseload index
    national = load_national_monthly().set_index("month")["benefits_below_aow_thousands"]
    factor = national[pd.Timestamp("2015-01-01")] / national[pd.Timestamp("2017-12-01")]
    expected = np.maximum(1, np.round(register.areas.set_index("area")["recipients_2018"] * SCALE * factor))
    january = register.panel.query("period == 1").set_index("area")
    assert (january["stock"] - january["inflow"]).reindex(expected.index).eq(expected).all()
    assert 1.9 < stock2.sum() / stock.sum() < 2.1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="scale must be positive"):
        simulate_register(scale=0)
    with pytest.raises(ValueError, match="comparison_municipalities: must not contain GM0363"):
        simulate_register(scale=0.01, comparison_municipalities=("GM0363",))
    with pytest.raises(ValueError, match="GM9999 is not in the CBS municipal table"):
        simulate_register(scale=0.01, comparison_municipalities=("GM9999",))


def _toy_truth():
    # group 3 has two areas, group 5 one; periods 1..6
    rows = []
    for group, n, values in ((3, 2, [0, 0, 1.0, 2.0, 3.0, 4.0]), (5, 1, [0, 0, 0, 0, 10.0, 20.0])):
        for period, att in enumerate(values, start=1):
            rows.append({"intervention": "cohort", "outcome": "y", "group": group, "period": period,
                         "att": att, "n_areas": n})
    return pd.DataFrame(rows)


def test_true_aggregate_uses_did_aggte_weights():
    truth = _toy_truth()
    # simple: post cells (g=3: t=3..6, weight 2; g=5: t=5..6, weight 1)
    simple = (2 * (1 + 2 + 3 + 4) + 1 * (10 + 20)) / (2 * 4 + 1 * 2)
    assert true_aggregate(truth, "cohort", "y", "simple") == pytest.approx(simple)
    dynamic = true_aggregate(truth, "cohort", "y", "dynamic").set_index("event_time")["att"]
    assert dynamic[0] == pytest.approx((2 * 1 + 1 * 10) / 3)
    assert dynamic[1] == pytest.approx((2 * 2 + 1 * 20) / 3)
    assert dynamic[3] == pytest.approx(4.0)
    assert dynamic[-2] == 0.0
    assert true_aggregate(truth, "cohort", "y", "dynamic").attrs["overall"] == pytest.approx(
        np.mean([dynamic[0], dynamic[1], dynamic[2], dynamic[3]]))
    group = true_aggregate(truth, "cohort", "y", "group")
    assert group.set_index("group")["att"].to_dict() == pytest.approx({3: 2.5, 5: 15.0})
    assert group.attrs["overall"] == pytest.approx((2 * 2.5 + 15.0) / 3)
    with pytest.raises(ValueError, match="kind must be"):
        true_aggregate(truth, "cohort", "y", "weird")
    with pytest.raises(ValueError, match="no truth for intervention='counter'"):
        true_aggregate(truth, "counter", "y")


def test_area_panel_fast_and_known_truth():
    panel, truth = simulate_area_panel(seed=1)
    assert list(panel.columns) == list(PANEL_COLUMNS) and len(panel) == 22 * 120
    again, truth_again = simulate_area_panel(seed=1)
    pd.testing.assert_frame_equal(panel, again)
    pd.testing.assert_frame_equal(truth, truth_again)
    assert (truth.loc[truth["period"] < truth["group"], "att"] == 0.0).all()
    work = true_aggregate(truth, "cohort", "outflow_work_rate")
    assert 0.1 < work < 1.0
    # same margins as the person model: monthly exit hazard ~2%, re-inflow share of inflow ~20%
    monthly = panel.groupby("period")[["stock", "outflow", "inflow", "reinflow_12m"]].sum()
    hazard = 100 * monthly["outflow"].sum() / monthly["stock"].sum()
    assert 1.7 < hazard < 2.5
    assert 15 < 100 * monthly["reinflow_12m"].sum() / monthly["inflow"].sum() < 25
    # speed (target 50 ms for 22 areas x 120 months) is measured by benchmarks/bench_register.py, not asserted here


def test_area_panel_custom_schedule_and_no_effect():
    schedule = np.array([0, 0, 60, 60, 70, 70])
    panel, truth = simulate_area_panel(seed=3, n_areas=6, schedule=schedule, effects=Effects.none())
    assert sorted(panel.drop_duplicates("area")["first_treat_cohort"]) == [0, 0, 60, 60, 70, 70]
    assert (truth["att"] == 0.0).all() and set(truth["group"]) == {60, 70}
    with pytest.raises(ValueError, match="schedule must have one period per area"):
        simulate_area_panel(seed=3, n_areas=5, schedule=schedule)


def test_effects_is_documented_and_frozen():
    effects = Effects()
    with pytest.raises(dataclasses.FrozenInstanceError):
        effects.cohort_work_multiplier = 2.0
    assert Effects.none().cohort_work_multiplier == 1.0
