"""Compare the synthetic register's margins with the real CBS figures (and the published benchmarks).

:func:`calibration_table` returns one row per margin with the synthetic value, the target, the tolerance and
whether ``|synthetic - target| <= tolerance``. Targets come from the CBS tables bundled with the project (loaded
with :mod:`bijstand.data.cbs`) or, where CBS has no table, from the benchmark numbers in DOMAIN.md (Divosa).

Definitions (as CBS uses them)
------------------------------
* annual inflow / outflow rate: flow during the year in % of the persons on benefit at the start of the year plus
  those who started during the year. With the panel's monthly counts, persons at the start of the year are
  ``stock[January] - inflow[January]``;
* share of outflow to work: outflow to work / outflow, %;
* monthly exit hazard: outflow / stock per month, %;
* re-inflow within *k* months: share of spells ending in 2015-2019 followed by a new spell of the same person
  that starts at most *k* months after the exit month (needs the spells);
* long-term share: persons on benefit 5+ years in % of the stock in December 2017 (needs the spells);
* COVID: inflow and outflow in 2020Q2 against 2019Q2, %;
* caseload level: persons in December 2017 divided by ``scale`` against CBS's 2017 persons (municipalities sized
  from CBS only); trend: growth of the total caseload over 2015-12 .. 2017-12 and 2019Q4 .. 2022Q4 against the
  national series.

Tolerances are stated per row; they are what a synthetic register must meet to be called calibrated, chosen as
about the year-to-year spread of the CBS figure itself (e.g. outflow rates moved by 2 pp between 2015 and 2017).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bijstand.data.synthetic import AMSTERDAM, ROTTERDAM

CALIBRATION_COLUMNS = ("margin", "synthetic", "target", "tolerance", "ok", "unit", "source")


def _default_cbs():
    from bijstand.data import cbs

    return cbs


def _yearly(panel: pd.DataFrame) -> pd.DataFrame:
    """Per year: persons at start, inflow, outflow (total, work) summed over areas."""
    monthly = panel.groupby("month")[["stock", "inflow", "outflow", "outflow_work"]].sum()
    monthly["year"] = monthly.index.year
    first = monthly.groupby("year").first()
    yearly = monthly.groupby("year")[["inflow", "outflow", "outflow_work"]].sum()
    yearly["at_start"] = first["stock"] - first["inflow"]
    return yearly


def _annual_rates(panel: pd.DataFrame, years) -> tuple[float, float, float]:
    y = _yearly(panel).loc[list(years)]
    base = y["at_start"] + y["inflow"]
    return (float((100 * y["outflow"] / base).mean()), float((100 * y["inflow"] / base).mean()),
            float((100 * y["outflow_work"] / y["outflow"]).mean()))


def _stock_at(panel: pd.DataFrame, month: str) -> float:
    return float(panel.loc[panel["month"] == pd.Timestamp(month), "stock"].sum())


def _reinflow_shares(spells: pd.DataFrame, first_exit="2015-01-01", last_exit="2019-12-01"):
    """Share (%) of spells ending in [first_exit, last_exit] followed by a new spell within 6 / 12 months."""
    ordered = spells.sort_values(["person_id", "spell_start"], kind="stable")
    next_start = ordered.groupby("person_id", sort=False)["spell_start"].shift(-1)
    ended = ordered["spell_end"].between(pd.Timestamp(first_exit), pd.Timestamp(last_exit))
    end = ordered.loc[ended, "spell_end"]
    nxt = next_start[ended]
    gap = (nxt.dt.year - end.dt.year) * 12 + (nxt.dt.month - end.dt.month)
    reason = ordered.loc[ended, "exit_reason"]
    out = {}
    for k in (6, 12):
        back = (gap <= k).to_numpy()
        out[("all", k)] = 100 * back.mean()
        for r in ("work", "enforcement"):
            out[(r, k)] = 100 * back[(reason == r).to_numpy()].mean()
    return out


def _long_term_share(spells: pd.DataFrame, month="2017-12-01", municipality=None) -> float:
    ts = pd.Timestamp(month)
    on = (spells["spell_start"] <= ts) & (spells["spell_end"].isna() | (spells["spell_end"] >= ts))
    if municipality is not None:
        on &= spells["municipality"] == municipality
    start = spells.loc[on, "spell_start"]
    months = (ts.year - start.dt.year) * 12 + (ts.month - start.dt.month)
    return float(100 * (months >= 60).mean())


def calibration_table(register_or_panel, cbs=None, *, scale: float | None = None) -> pd.DataFrame:
    """Synthetic margins beside their CBS / benchmark targets.

    Parameters
    ----------
    register_or_panel : SyntheticRegister or DataFrame
        A register (spells + panel; all margins) or an area-month panel (margins that need spells are left out).
    cbs : module-like, optional
        Object with the loaders of :mod:`bijstand.data.cbs` (default: that module).
    scale : float, optional
        Size multiplier of the register (default: the register's own, 1 for a bare panel); caseload levels are
        divided by it.

    Returns
    -------
    DataFrame
        Columns ``margin, synthetic, target, tolerance, ok, unit, source`` (tidy: one row per margin, ready to
        plot synthetic against target with the tolerance as an error bar).
    """
    cbs = _default_cbs() if cbs is None else cbs
    if isinstance(register_or_panel, pd.DataFrame):
        panel, spells, params = register_or_panel, None, {}
    else:
        panel, spells, params = register_or_panel.panel, register_or_panel.spells, register_or_panel.params
    if scale is None:
        scale = float(params.get("scale", 1.0))
    for column in ("municipality", "month", "stock", "inflow", "outflow", "outflow_work"):
        if column not in panel.columns:
            raise ValueError(f"calibration_table: panel lacks column {column}")

    figures = cbs.load_municipal_figures()
    figures = figures[figures["age_group_code"].astype(str).str.strip() == "20150"].copy()
    figures["region_code"] = figures["region_code"].astype(str).str.strip()
    for column in ("bijstandsontvangers", "instroom_pct", "uitstroom_pct", "uitstroom", "uitstroom_werk"):
        figures[column] = pd.to_numeric(figures[column], errors="coerce")
    by_region = figures.set_index(["region_code", "year"])
    years = (2015, 2016, 2017)
    rows = []

    def add(margin, synthetic, target, tolerance, unit, source):
        ok = bool(abs(synthetic - target) <= tolerance) if np.isfinite(synthetic) else False
        rows.append({"margin": margin, "synthetic": float(synthetic), "target": float(target),
                     "tolerance": float(tolerance), "ok": ok, "unit": unit, "source": source})

    # --- national-style flows over all areas --------------------------------------------------------------
    out_rate, in_rate, work_share = _annual_rates(panel, years)
    nl = by_region.loc["NL01"].loc[list(years)]
    add("annual outflow rate 2015-17", out_rate, nl["uitstroom_pct"].mean(), 2.5, "% of stock+inflow",
        "CBS 83450/83747/84066NED, NL")
    add("annual inflow rate 2015-17", in_rate, nl["instroom_pct"].mean(), 3.0, "% of stock+inflow",
        "CBS 83450/83747/84066NED, NL")
    add("share of outflow to work 2015-17", work_share, (100 * nl["uitstroom_werk"] / nl["uitstroom"]).mean(), 5.0,
        "% of outflow", "CBS 83450/83747/84066NED, NL")
    monthly = panel.groupby("month")[["stock", "outflow", "outflow_work"]].sum()
    window = monthly.loc["2015-01-01":"2019-12-01"]
    # DOMAIN.md gives ranges; the tolerance is half the range plus 0.2 pp, because CBS's own annual rates
    # (20.8% outflow, 45% of it to work) imply about 2.1% and 0.95% a month, at the top of those ranges.
    add("monthly exit hazard 2015-19", float((100 * window["outflow"] / window["stock"]).mean()), 1.95, 0.45,
        "% per month", "DOMAIN.md: 1.7-2.2%")
    add("monthly exit hazard to work 2015-19", float((100 * window["outflow_work"] / window["stock"]).mean()),
        0.85, 0.25, "% per month", "DOMAIN.md: 0.8-0.9%")

    for code, name in ((AMSTERDAM, "Amsterdam"), (ROTTERDAM, "Rotterdam")):
        own = panel[panel["municipality"] == code]
        if own.empty:
            continue
        o, _, _ = _annual_rates(own, years)
        target = by_region.loc[code].loc[list(years), "uitstroom_pct"].mean()
        add(f"annual outflow rate 2015-17 {name}", o, target, 2.5, "% of stock+inflow",
            f"CBS 83450/83747/84066NED, {code}")

    # --- caseload level and trend -------------------------------------------------------------------------
    sized = panel[panel["municipality"] != AMSTERDAM]
    if not sized.empty:
        codes = [c for c in sorted(sized["municipality"].unique()) if (c, 2017) in by_region.index]
        sized = sized[sized["municipality"].isin(codes)]
    if not sized.empty:
        target = sum(float(by_region.loc[(c, 2017), "bijstandsontvangers"]) for c in codes)
        add("caseload Dec 2017 (municipalities sized from CBS)", _stock_at(sized, "2017-12-01") / scale, target,
            0.10 * target, "persons", f"CBS 84066NED, {len(codes)} municipalities")
    amsterdam = panel[panel["municipality"] == AMSTERDAM]
    if not amsterdam.empty:
        add("caseload Dec 2017 Amsterdam cohort areas", _stock_at(amsterdam, "2017-12-01") / scale, 33000, 3300,
            "persons", "seed 002: 22 areas of about 1,500")
    national = cbs.load_national_monthly().set_index("month")["benefits_below_aow_thousands"]
    cbs_growth = 100 * (national[pd.Timestamp("2017-12-01")] / national[pd.Timestamp("2015-12-01")] - 1)
    syn_growth = 100 * (_stock_at(panel, "2017-12-01") / _stock_at(panel, "2015-12-01") - 1)
    add("caseload growth 2015-12 to 2017-12", syn_growth, cbs_growth, 3.0, "%", "CBS 37789ksz (below AOW age)")
    stock_q = cbs.load_national_quarterly_stock().set_index("quarter")["persons"].astype(float)
    if {"2019Q4", "2022Q4"} <= set(stock_q.index) and panel["month"].max() >= pd.Timestamp("2022-12-01"):
        cbs_growth = 100 * (stock_q["2022Q4"] / stock_q["2019Q4"] - 1)
        syn_growth = 100 * (_stock_at(panel, "2022-12-01") / _stock_at(panel, "2019-12-01") - 1)
        add("caseload growth 2019Q4 to 2022Q4", syn_growth, cbs_growth, 4.0, "%", "CBS 85585NED")

    # --- COVID-19 ----------------------------------------------------------------------------------------------
    quarter = panel.groupby(panel["month"].dt.to_period("Q"))[["inflow", "outflow"]].sum()
    if pd.Period("2020Q2") in quarter.index and pd.Period("2019Q2") in quarter.index:
        flows = cbs.load_national_quarterly_flows().set_index("quarter")
        for column, label in (("inflow", "inflow"), ("outflow", "outflow")):
            syn = 100 * (quarter.loc[pd.Period("2020Q2"), column] / quarter.loc[pd.Period("2019Q2"), column] - 1)
            target = 100 * (flows.loc["2020Q2", column] / flows.loc["2019Q2", column] - 1)
            add(f"{label} 2020Q2 vs 2019Q2 (COVID-19)", syn, target, 10.0, "% change", "CBS 82662NED")
        both = flows.loc[[q for q in flows.index if q[:4] in {"2019", "2020", "2021", "2022", "2023"}]]
        target = 100 * both["reinflow_within_1y"].sum() / both["inflow"].sum()
        window = panel[(panel["month"] >= "2019-01-01") & (panel["month"] <= "2023-12-01")]
        if "reinflow_12m" in window.columns and len(window):
            syn = 100 * window["reinflow_12m"].sum() / window["inflow"].sum()
            # CBS counts re-inflow per person-year differently from the Divosa leaver cohorts the register is
            # calibrated to (20% of leavers back within a year); the two cannot both be met, hence 8 pp.
            add("re-inflow within 1 year, % of inflow 2019-23", syn, target, 8.0, "% of inflow", "CBS 82662NED")

    # --- spells: re-inflow of leavers and long-term share ----------------------------------------------------
    if spells is not None:
        shares = _reinflow_shares(spells)
        add("re-inflow within 6 months of leaving", shares[("all", 6)], 14.0, 2.0, "% of leavers",
            "Divosa benchmark 2019")
        add("re-inflow within 12 months of leaving", shares[("all", 12)], 20.0, 2.5, "% of leavers",
            "Divosa benchmark 2019")
        add("re-inflow within 6 months after enforcement exit", shares[("enforcement", 6)], 28.0, 4.0,
            "% of leavers", "Divosa monitor 2014")
        add("re-inflow within 6 months after exit to work", shares[("work", 6)], 8.0, 4.0, "% of leavers",
            "DOMAIN.md: markedly lower than 14% (8% assumed)")
        add("long-term share (5+ years) Dec 2017", _long_term_share(spells), 36.0, 4.0, "% of stock",
            "DOMAIN.md / CBS 85585NED")
        if (spells["municipality"] == AMSTERDAM).any():
            add("long-term share (5+ years) Dec 2017 Amsterdam", _long_term_share(spells, municipality=AMSTERDAM),
                48.0, 5.0, "% of stock", "DOMAIN.md (Amsterdam 2017)")
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def caseload_index(panel: pd.DataFrame, cbs=None, *, base: str = "2015-12-01") -> pd.DataFrame:
    """Tidy caseload index (base month = 100): synthetic total stock beside the national CBS series.

    Returns ``month, source, index`` with sources ``"synthetic"``, ``"CBS 37789ksz"`` (monthly, to 2018-10) and
    ``"CBS 85585NED"`` (quarterly 2019-2022, rebased to the synthetic value in 2019Q1 because the two CBS series
    count different units).
    """
    cbs = _default_cbs() if cbs is None else cbs
    base = pd.Timestamp(base)
    synthetic = panel.groupby("month")["stock"].sum().astype(float)
    syn_index = 100 * synthetic / synthetic[base]
    national = cbs.load_national_monthly().dropna(subset=["benefits_below_aow_thousands"])
    national = national.set_index("month")["benefits_below_aow_thousands"].astype(float)
    national = national[national.index >= synthetic.index.min()]
    nat_index = 100 * national / national[base]
    stock_q = cbs.load_national_quarterly_stock().set_index("quarter")["persons"].astype(float)
    months_q = pd.PeriodIndex(stock_q.index, freq="Q").to_timestamp(how="start") + pd.DateOffset(months=1)
    q_series = pd.Series(stock_q.to_numpy(), index=months_q)
    anchor = pd.Timestamp("2019-02-01")
    q_index = 100 * q_series / q_series[anchor] * (syn_index.get(anchor, np.nan) / 100)
    frames = [pd.DataFrame({"month": syn_index.index, "source": "synthetic", "index": syn_index.to_numpy()}),
              pd.DataFrame({"month": nat_index.index, "source": "CBS 37789ksz", "index": nat_index.to_numpy()}),
              pd.DataFrame({"month": q_index.index, "source": "CBS 85585NED", "index": q_index.to_numpy()})]
    return pd.concat(frames, ignore_index=True)
