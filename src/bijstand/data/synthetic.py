"""Synthetic social-assistance register with known, heterogeneous, time-varying intervention effects.

The register imitates the Dutch bijstand population of Amsterdam (22 cohort areas), Rotterdam (42
neighbourhoods) and a set of comparison municipalities, month by month from 2015-01 to 2024-12, and carries
three interventions whose effects are parameters (:class:`Effects`):

* **cohort approach** (Amsterdam areas, staggered 2019-09 .. 2020-11, :data:`COHORT_SCHEDULE`);
* **counter-performance** (Rotterdam neighbourhoods, staggered 2016-01 .. 2019-01, :data:`COUNTER_SCHEDULE`);
* **soft outreach** "Meedoen werkt" (Amsterdam boroughs, staggered 2017-01 .. 2018-07, :data:`OUTREACH_SCHEDULE`).

Data-generating process (one person :math:`i`, calendar month :math:`t`, spell duration :math:`d = t - s`)
---------------------------------------------------------------------------------------------------------
Competing exit risks :math:`c \\in \\{\\text{work}, \\text{enforcement}, \\text{other}\\}` with monthly hazards

.. math::

    h_{c,it} = \\exp\\big(\\alpha_c + x_i'\\beta_c + \\lambda_c(d) + \\kappa_c(\\text{age}_{it}) + \\mu_{c,m(i)}
               + \\eta_{a(i)}\\big) \\; B_t \\; C_t \\; \\tau_{c,it}

with traits :math:`x_i` (education, refugee, exemption), duration dependence :math:`\\lambda_c`, age profile
:math:`\\kappa_c`, municipality profile :math:`\\mu` (from the real CBS outflow rates 2015--2017), an area effect
:math:`\\eta_a \\sim N(0, \\sigma^2)`, the business cycle :math:`B_t` built from the real national CBS series
(:func:`business_cycle`), the COVID-19 shock :math:`C_t`, and the intervention multiplier :math:`\\tau`
(1 without intervention). Each cause has its own uniform draw :math:`u_{c,it}`; a person exits for cause :math:`c`
if :math:`u_{c,it} < h_{c,it}`, with priority other > enforcement > work when several fire (so raising the work
hazard only ever *adds* work exits). Leavers re-enter with a hazard that depends on the exit reason and the months
since exit (:data:`REENTRY_TARGETS`); new entrants arrive as Poisson counts per area and month.

Truth by common random numbers
------------------------------
Every person-month has the same three uniforms in every simulated world. For each intervention :math:`k` the
simulator runs the world with all interventions and the world without :math:`k` (others unchanged) on the persons of
the municipality that runs :math:`k`, with the same inflow. The true effect in the panel's units is

.. math::

    \\text{ATT}_k(g, t) = \\frac{1}{|A_g|} \\sum_{a \\in A_g}
        \\big(Y_{at}^{\\text{all}} - Y_{at}^{\\text{all}\\setminus k}\\big)

over the areas :math:`A_g` whose roll-out of :math:`k` starts in period :math:`g` -- the sample ATT of the very
panel the estimators see. Before :math:`g` both worlds use identical numbers, so the truth is exactly zero there.
:func:`true_aggregate` aggregates it with the weights of R ``did::aggte``.

Reading a gap between an estimate and this truth: leavers re-enter in their own area (no spill-over onto other
areas), so a not-yet-treated area is identical in both worlds until its own start; the truth uses the panel's own
rates (count / stock of each area, averaged over areas, not pooled counts); and Callaway--Sant'Anna without
covariates is linear in the outcome. Hence, cell by cell and for every ``aggte`` aggregate,

.. math::

    \\widehat{\\text{ATT}}\\,[Y^{\\text{all}}] - \\text{ATT}_k = \\widehat{\\text{ATT}}\\,[Y^{\\text{all}\\setminus k}],

the estimator applied to the world without :math:`k` (a placebo run with ``Effects.none()``; tested). The truth is
the estimand; any gap is the estimator's sampling error in the untreated world. For a rare outcome that error is
large next to the effect, because Callaway--Sant'Anna compares every post month of group :math:`g` with the
single month :math:`g-1`, so the noise of that one month shifts all of the group's event times together. Example
(seed 20240101, scale 1, counter-performance, ``outflow_enforcement_rate``, 2015-01..2019-12, not-yet-treated):
CS 0.082 against a truth of 0.034. On the placebo panel CS gives 0.048 (SE 0.017), and so does
CS - truth for ``counter_enforcement_hazard`` 0, 0.003 and 0.006 (truth 0.000 / 0.034 / 0.073). The first two waves'
base months (2015-12, 2016-06) lie 0.10 and 0.06 below their not-yet-treated controls, against 0.01-0.02 in the
months before. Over 40 seeds (Rotterdam only), CS - truth is -0.003 +- 0.004 with 92.5% coverage of the 95%
interval. TWFE, which uses all pre months as its base, is less affected by such a month (placebo 0.005).

Fast area-level version
-----------------------
:func:`simulate_area_panel` runs the same hazards on area cells (duration band x exemption, leavers by months
since exit) with binomial draws -- no person records, about 45 ms for 22 areas x 120 months -- for Monte Carlo.
Its truth is the expected effect (the cell model in expected values with and without the cohort approach).

Files (:meth:`SyntheticRegister.write`): ``spells.parquet`` and ``panel.parquet`` (contract columns),
``areas.csv`` (contract columns plus ``borough``), ``truth.csv`` (contract columns) and ``metadata.json``
(seed, scale, window, comparison municipalities, all :class:`Effects` and :class:`Baseline` parameters, counts).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bijstand.data.panel import COUNT_COLUMNS, PANEL_COLUMNS, add_rates
from bijstand.data.periods import month_to_period, period_to_month

AMSTERDAM = "GM0363"
ROTTERDAM = "GM0599"
INTERVENTIONS = ("cohort", "counter", "outreach")
TRUTH_OUTCOMES = ("stock", "outflow_rate", "outflow_work_rate", "outflow_enforcement_rate", "outflow_other_rate",
                  "reinflow_12m_share")
REASONS = ("work", "enforcement", "other")

DEFAULT_COMPARISON = ("GM0362", "GM0307", "GM0518", "GM0344", "GM0014", "GM0855", "GM0268", "GM0150", "GM0034",
                      "GM0289")
"""Amstelveen and Amersfoort (seeds 000, 004) plus the mid-size and large municipalities the CBS README names."""

MUNICIPALITY_NAMES = {
    "GM0363": "Amsterdam", "GM0599": "Rotterdam", "GM0362": "Amstelveen", "GM0307": "Amersfoort",
    "GM0518": "'s-Gravenhage", "GM0344": "Utrecht", "GM0014": "Groningen", "GM0855": "Tilburg",
    "GM0268": "Nijmegen", "GM0150": "Deventer", "GM0034": "Almere", "GM0289": "Wageningen",
}

# Amsterdam's 22 "gebieden" (2015-2022) with their borough (stadsdeel) and a size near the seed's "about 1,500
# recipients" per area (sizes are fixed so that the area file does not depend on the seed; they sum to 33,000).
AMSTERDAM_AREAS = (
    # code, name, borough, recipients_2018
    ("AMS01", "Centrum West", "Centrum", 1150), ("AMS02", "Centrum Oost", "Centrum", 1250),
    ("AMS03", "Westerpark", "West", 1400), ("AMS04", "Bos en Lommer", "West", 1900),
    ("AMS05", "Oud-West, De Baarsjes", "West", 1450), ("AMS06", "Oud-Zuid", "Zuid", 900),
    ("AMS07", "Buitenveldert, Zuidas", "Zuid", 800), ("AMS08", "De Pijp, Rivierenbuurt", "Zuid", 1100),
    ("AMS09", "Oud-Oost", "Oost", 1500), ("AMS10", "Indische Buurt, Oostelijk Havengebied", "Oost", 1650),
    ("AMS11", "Watergraafsmeer", "Oost", 1000), ("AMS12", "IJburg, Zeeburgereiland", "Oost", 1050),
    ("AMS13", "Noord-West", "Noord", 1700), ("AMS14", "Oud-Noord", "Noord", 1600),
    ("AMS15", "Noord-Oost", "Noord", 1550), ("AMS16", "Geuzenveld, Slotermeer", "Nieuw-West", 2100),
    ("AMS17", "Osdorp", "Nieuw-West", 1800), ("AMS18", "De Aker, Nieuw Sloten", "Nieuw-West", 1000),
    ("AMS19", "Slotervaart", "Nieuw-West", 1700), ("AMS20", "Bijlmer Centrum", "Zuidoost", 2000),
    ("AMS21", "Bijlmer Oost", "Zuidoost", 2050), ("AMS22", "Gaasperdam", "Zuidoost", 1350),
)

# Cohort approach roll-out (seed 002): Bijlmer Oost 2019-09, Centrum West and Centrum Oost 2019-11, Osdorp 2019-12;
# the seed says only "the other 18 areas during 2020". We fix a documented schedule: six waves of three areas,
# every second month of 2020, going through the boroughs in the order of the first wave (Zuidoost, Centrum,
# Nieuw-West first, then West, Noord, Oost, Zuid).
COHORT_SCHEDULE = {
    "AMS21": "2019-09", "AMS01": "2019-11", "AMS02": "2019-11", "AMS17": "2019-12",
    "AMS20": "2020-01", "AMS22": "2020-01", "AMS16": "2020-01",
    "AMS18": "2020-03", "AMS19": "2020-03", "AMS04": "2020-03",
    "AMS03": "2020-05", "AMS05": "2020-05", "AMS13": "2020-05",
    "AMS14": "2020-07", "AMS15": "2020-07", "AMS09": "2020-07",
    "AMS10": "2020-09", "AMS11": "2020-09", "AMS12": "2020-09",
    "AMS06": "2020-11", "AMS07": "2020-11", "AMS08": "2020-11",
}

# Soft outreach "Meedoen werkt" (seed 002): 8 teams = 7 borough teams + 1 flying team. Identifying assumption we
# build in: each borough team starts its letters in a different quarter of 2017-2018 (the flying team supports the
# borough that is starting, so it adds no assignment of its own). All starts precede the cohort approach by 14+
# months, so the two roll-outs never start together and the outreach effect is at its plateau (constant)
# throughout the cohort roll-out.
OUTREACH_SCHEDULE = {
    "Zuidoost": "2017-01", "Nieuw-West": "2017-04", "Noord": "2017-07", "West": "2017-10",
    "Oost": "2018-01", "Zuid": "2018-04", "Centrum": "2018-07",
}

# Rotterdam: 42 neighbourhoods where the counter-performance teams work (seed 001: "about 100 civil servants in 42
# neighbourhoods"). Staggered in 7 half-yearly waves of 6 neighbourhoods, 2016-01 .. 2019-01 (our schedule; the
# published evaluation used a staggered roll-out over neighbourhoods as well).
ROTTERDAM_AREAS = (
    "Afrikaanderwijk", "Bloemhof", "Hillesluis", "Feijenoord", "Tarwewijk", "Carnisse", "Oud-Charlois",
    "Zuidwijk", "Pendrecht", "Lombardijen", "Groot-IJsselmonde", "Beverwaard", "Vreewijk", "Katendrecht",
    "Spangen", "Bospolder", "Tussendijken", "Nieuwe Westen", "Middelland", "Oude Westen", "Delfshaven",
    "Oud-Mathenesse", "Schiemond", "Cool", "Stadsdriehoek", "Agniesebuurt", "Provenierswijk", "Oude Noorden",
    "Crooswijk", "Kralingen-West", "Bergpolder", "Liskwartier", "Blijdorp", "Ommoord", "Zevenkamp",
    "Het Lage Land", "Prinsenland", "Overschie", "Schiebroek", "Hoogvliet-Noord", "Hoogvliet-Zuid", "Pernis",
)
COUNTER_WAVES = ("2016-01", "2016-07", "2017-01", "2017-07", "2018-01", "2018-07", "2019-01")
COUNTER_SCHEDULE = {f"RTM{k + 1:02d}": COUNTER_WAVES[k // 6] for k in range(42)}

# Re-inflow targets (share of leavers back on benefit within 6 / 12 / 60 months) by exit reason. Overall they
# reproduce the national Divosa benchmark 14% / 20% / 35% (CBS README) for an outflow mix of about 47% work,
# 8% enforcement, 45% other; work lower, enforcement 28% within 6 months (Divosa monitor 2014).
REENTRY_TARGETS = {"work": (0.08, 0.13, 0.27), "enforcement": (0.28, 0.36, 0.50), "other": (0.18, 0.25, 0.42)}

# Municipality-specific profile beyond what the CBS rates give (seed 000 on Amstelveen: fewer enforcement exits,
# lower re-inflow, more exemptions). Multipliers on enforcement hazard and re-entry hazard, and the exemption share.
# Amsterdam: 48% of recipients on benefit 5+ years in 2017 against 36% nationally (DOMAIN.md): hazards at 5+ years
# are lowered further there (``long_term_exit``). Rotterdam: no published share; the counter-performance target
# group (51 years, 11 years on benefit, seed 001) suggests a long-term caseload like Amsterdam's (assumption).
MUNICIPALITY_PROFILES = {
    "GM0362": {"enforcement": 0.5, "reentry": 0.8, "exempt_share": 0.30},
    "GM0363": {"long_term_exit": 0.55},
    "GM0599": {"long_term_exit": 0.7},
}


@dataclass(frozen=True)
class Effects:
    """True intervention effects (multipliers and extra hazards on the monthly exit hazards).

    Defaults and their sources (DOMAIN.md):

    * cohort approach: intensive counselling / lower caseloads raise outflow to work by +3 to +8 pp (DOMAIN.md).
      A work-hazard multiplier of 1.9 at full strength gives, averaged over everyone in the treated areas
      (exempted and 5+ year recipients included), about +0.35 pp a month once built up: +1.4 pp of the caseload
      leaves for work in the first year after the area's start and +4.5 pp in the second -- inside that range.
      The effect builds up linearly over ``cohort_ramp_months`` after each person's invitation (invitations are
      spread over ``cohort_invitation_months``), is multiplied by ``cohort_long_term_factor`` for 5+ year
      recipients, absent for exempted people, varies by area (uniform factor in
      ``1 +- cohort_area_heterogeneity``), and is scaled by ``1 - cohort_covid_pause`` during the first lockdown
      (2020-03 .. 2020-06: no talks). People who start a spell after their area's start are invited in the month
      after intake (or at their scheduled invitation month, whichever is later). Non-response: the seed says
      benefits were stopped when people did not respond but gives no number; we add
      ``cohort_nonresponse_hazard`` to the enforcement hazard in the first ``cohort_nonresponse_months`` after
      the invitation (about 1.5% of the invited).
    * counter-performance: Bastiaans, Dur & Gielen (2023) find little or no effect on work: work multiplier 1.05
      for recipients under 45 and 0.95 (lock-in) from 45 on -- about zero on average for a target group of mean
      age 51. Non-compliance ends benefits: +0.3 pp enforcement hazard in the first year after assignment; people
      who rather leave than comply: other-exit multiplier 1.10. Targets non-exempt recipients on benefit at least
      ``counter_min_duration_months``; each is reached within ``counter_reach_months`` of the neighbourhood
      start (seed 001: 12,000 reached in four years).
    * soft outreach: "comparable results with a soft hand" is a claim, not a finding; we set a small effect, work
      multiplier 1.10 after a 6-month build-up, for the ``outreach_reach_share`` of non-exempt recipients who
      get a letter within ``outreach_reach_months`` (15,000 "set in motion" in two years, seed 002).
    """

    cohort_work_multiplier: float = 1.9
    cohort_ramp_months: int = 9
    cohort_invitation_months: int = 12
    cohort_long_term_factor: float = 0.5
    cohort_area_heterogeneity: float = 0.4
    cohort_covid_pause: float = 0.5
    cohort_nonresponse_hazard: float = 0.005
    cohort_nonresponse_months: int = 3
    counter_min_duration_months: int = 36
    counter_reach_months: int = 24
    counter_work_multiplier_young: float = 1.05
    counter_work_multiplier_old: float = 0.95
    counter_enforcement_hazard: float = 0.003
    counter_enforcement_months: int = 12
    counter_other_multiplier: float = 1.10
    outreach_work_multiplier: float = 1.10
    outreach_ramp_months: int = 6
    outreach_reach_share: float = 0.5
    outreach_reach_months: int = 12

    @classmethod
    def none(cls) -> "Effects":
        """All effects switched off (useful for placebo runs): the truth is then exactly zero."""
        return cls(cohort_work_multiplier=1.0, cohort_nonresponse_hazard=0.0, counter_work_multiplier_young=1.0,
                   counter_work_multiplier_old=1.0, counter_enforcement_hazard=0.0, counter_other_multiplier=1.0,
                   outreach_work_multiplier=1.0)


@dataclass(frozen=True)
class Baseline:
    """Parameters of the world without interventions, calibrated to the CBS margins (see calibration.py).

    Hazards are monthly. Relative effects multiply the base hazard; duration bands are months on benefit
    ``[1-5], [6-11], [12-23], [24-59], [60+]``; age bands ``<27, 27-44, 45-54, 55-64, 65+``.
    """

    base_work: float = 0.021
    base_enforcement: float = 0.0022
    base_other: float = 0.0115
    duration_work: tuple = (1.6, 1.4, 1.0, 0.75, 0.4)
    duration_enforcement: tuple = (1.6, 1.3, 1.0, 0.8, 0.5)
    duration_other: tuple = (1.2, 1.1, 1.0, 1.0, 1.0)
    age_work: tuple = (1.2, 1.0, 0.75, 0.5, 0.05)
    age_other: tuple = (1.3, 1.0, 1.0, 1.2, 2.5)
    education_shares: tuple = (0.55, 0.33, 0.12)
    education_work: tuple = (0.8, 1.1, 1.4)
    refugee_share: float = 0.10
    refugee_share_2016_2017: float = 0.25
    refugee_work: float = 0.7
    exempt_share: float = 0.20
    exempt_work: float = 0.35
    exempt_enforcement: float = 0.2
    entrant_age_mean: float = 36.0
    area_effect_sd: float = 0.10
    cycle_elasticity: float = 2.0
    # Set below the raw CBS 2020Q2 changes (+39% / -32% y-o-y) because the synthetic y-o-y change also carries
    # the cycle and the re-entries the shock itself causes; with these values it reproduces the CBS changes
    # (calibration table).
    covid_inflow_multiplier: float = 1.33
    covid_exit_multiplier: float = 0.70
    covid_decay_months: float = 2.0
    new_entry_factor: float = 0.64
    reentry_window_months: int = 60


# --------------------------------------------------------------------------------------------------------------
# CBS inputs
# --------------------------------------------------------------------------------------------------------------

def _cbs():
    """The CBS loader module (imported late so that importing this module stays cheap)."""
    from bijstand.data import cbs

    return cbs


@functools.lru_cache(maxsize=16)
def _cbs_table(loader: str, folder: str) -> pd.DataFrame:
    """A vendored CBS table from ``folder``, read once per process (callers get a copy via :func:`_cbs_copy`)."""
    return getattr(_cbs(), loader)(folder)


def _cbs_copy(loader: str) -> pd.DataFrame:
    """Copy of a vendored CBS table (``load_municipal_figures``, ``load_national_monthly``, ...) from the current
    CBS folder (:func:`bijstand.data.cbs.default_cbs_dir`; the cache is keyed on it)."""
    return _cbs_table(loader, _cbs_folder()).copy()


def _cbs_folder() -> str:
    return str(_cbs().default_cbs_dir())


def business_cycle(start: str = "2015-01", end: str = "2024-12", *, elasticity: float = 2.0,
                   covid_inflow_multiplier: float = 1.33, covid_exit_multiplier: float = 0.70,
                   covid_decay_months: float = 2.0) -> pd.DataFrame:
    """Monthly business-cycle and COVID multipliers built from the real national CBS series.

    The cycle index :math:`g_t` is the annual growth rate of the national caseload:

    * 2014-01 .. 2018-10: year-on-year growth of benefits below AOW age (CBS 37789ksz, monthly);
    * 2020Q1 .. 2022Q4: year-on-year growth of the persons on benefit (CBS 85585NED, quarterly);
    * 2019 and 2023: annualised net flow :math:`4(\\text{inflow}_q - \\text{outflow}_q)/\\text{stock}_q`
      (CBS 82662NED flows; 2023 stock carried forward with the flows), smoothed with a centred 4-quarter mean to
      remove seasonality; quarterly values sit at the middle month of the quarter;
    * 2020Q1 .. 2021Q1 are replaced by a straight line between their neighbours, because the COVID shock is a
      separate, explicit component :math:`C_t` (the real decline of 2021Q2 .. 2022 stays in the cycle, which is
      how the synthetic caseload gives back its COVID rise); gaps are interpolated linearly and 2024 (no bundled
      data) holds the 2023 mean.

    Multipliers: new inflow and re-entry :math:`\\exp(\\epsilon g_t)`, exits :math:`\\exp(-\\epsilon g_t)`. COVID:
    intensity :math:`I_t` = 0.5 in 2020-03, 1 in 2020-04..06, then :math:`\\exp(-(t - \\text{2020-06})/\\delta)`
    until 2021-12 and 0 after; inflow :math:`\\times 1.33^{I_t}`, exits :math:`\\times 0.70^{I_t}` by default,
    which reproduce CBS's 2020Q2 inflow +39% and outflow -32% year on year once cycle and re-entries are added.

    Returns
    -------
    DataFrame
        ``month, period, growth, covid_intensity, inflow_multiplier, exit_multiplier``.
    """
    return _business_cycle(str(pd.Timestamp(start)), str(pd.Timestamp(end)), float(elasticity),
                           float(covid_inflow_multiplier), float(covid_exit_multiplier),
                           float(covid_decay_months), _cbs_folder()).copy()


@functools.lru_cache(maxsize=16)
def _business_cycle(start, end, elasticity, covid_inflow_multiplier, covid_exit_multiplier, covid_decay_months,
                    folder):
    monthly = _cbs_copy("load_national_monthly").dropna(subset=["benefits_below_aow_thousands"])
    monthly = monthly.set_index("month")["benefits_below_aow_thousands"].astype(float)
    yoy = (monthly / monthly.shift(12) - 1.0).dropna()
    yoy = yoy[yoy.index >= "2014-01-01"]

    flows = _cbs_copy("load_national_quarterly_flows").set_index("quarter")
    stock = _cbs_copy("load_national_quarterly_stock").set_index("quarter")["persons"].astype(float)
    persons = []
    last = None
    for quarter, row in flows.iterrows():
        if quarter in stock.index:
            last = float(stock[quarter])
        else:  # carry the stock forward with the net flow
            last = last + float(row["inflow"]) - float(row["outflow"])
        persons.append(last)
    net_flow = 4.0 * (flows["inflow"].astype(float) - flows["outflow"].astype(float)) / np.asarray(persons)
    net_flow.index = pd.PeriodIndex(net_flow.index, freq="Q")
    net_flow = net_flow.rolling(4, center=True, min_periods=2).mean()   # flows are seasonal, y-o-y is not
    stock.index = pd.PeriodIndex(stock.index, freq="Q")
    stock_yoy = (stock / stock.shift(4) - 1.0).dropna()
    # The stock's own year-on-year growth where it exists (it shows the 2021-22 decline that the transcribed flows
    # understate), the annualised net flow elsewhere.
    quarterly = net_flow.copy()
    quarterly.loc[stock_yoy.index] = stock_yoy.to_numpy()
    covid = (quarterly.index >= pd.Period("2020Q1")) & (quarterly.index <= pd.Period("2021Q1"))
    quarterly[covid] = np.nan
    quarterly = quarterly.interpolate(limit_area="inside")
    quarterly_months = quarterly.index.to_timestamp(how="start") + pd.DateOffset(months=1)

    months = pd.date_range(start, end, freq="MS")
    series = pd.Series(np.nan, index=pd.date_range("2014-01-01", max(months[-1], pd.Timestamp("2024-12-01")),
                                                   freq="MS"))
    series.loc[yoy.index] = yoy.to_numpy()
    series.loc[quarterly_months] = quarterly.to_numpy()
    mean_2023 = series["2023-01-01":"2023-12-01"].mean()
    series = series.interpolate(limit_area="inside")
    series[series.index > "2023-12-01"] = series["2023-01-01":"2023-12-01"].mean() if np.isnan(mean_2023) else mean_2023
    series = series.bfill().ffill()
    growth = series.reindex(months).to_numpy()

    period = month_to_period(months)
    covid_start = month_to_period(pd.Timestamp("2020-03-01"))
    peak_end = month_to_period(pd.Timestamp("2020-06-01"))
    fade_end = month_to_period(pd.Timestamp("2021-12-01"))
    intensity = np.zeros(len(months))
    intensity[period == covid_start] = 0.5
    intensity[(period > covid_start) & (period <= peak_end)] = 1.0
    fading = (period > peak_end) & (period <= fade_end)
    intensity[fading] = np.exp(-(period[fading] - peak_end) / covid_decay_months)
    inflow_multiplier = np.exp(elasticity * growth) * covid_inflow_multiplier ** intensity
    exit_multiplier = np.exp(-elasticity * growth) * covid_exit_multiplier ** intensity
    return pd.DataFrame({"month": months, "period": period, "growth": growth, "covid_intensity": intensity,
                         "inflow_multiplier": inflow_multiplier, "exit_multiplier": exit_multiplier})


def _first_lockdown(months: pd.Series) -> np.ndarray:
    """1.0 in the months of the first COVID-19 lockdown (2020-03 .. 2020-06), else 0.0."""
    months = pd.to_datetime(months)
    return ((months >= "2020-03-01") & (months <= "2020-06-01")).to_numpy(float)


def _municipal_profile(codes: list[str]) -> pd.DataFrame:
    """Per municipality: 2017 caseload and exit / work-share multipliers relative to NL (CBS 2015-2017, age 15+)."""
    return _municipal_profile_cached(tuple(codes), _cbs_folder()).copy()


@functools.lru_cache(maxsize=32)
def _municipal_profile_cached(codes: tuple[str, ...], folder: str) -> pd.DataFrame:
    figures = _cbs_copy("load_municipal_figures")
    figures = figures[figures["age_group_code"].astype(str).str.strip() == "20150"].copy()
    figures["region_code"] = figures["region_code"].astype(str).str.strip()
    for column in ("bijstandsontvangers", "uitstroom_pct", "uitstroom", "uitstroom_werk"):
        # CBS marks suppressed cells with "."; they become NaN here.
        figures[column] = pd.to_numeric(figures[column], errors="coerce")
    national = figures[figures["region_code"] == "NL01"]
    nl_out = national["uitstroom_pct"].mean()
    nl_work_share = (national["uitstroom_werk"] / national["uitstroom"]).mean()
    rows = []
    for code in codes:
        own = figures[figures["region_code"] == code]
        if own.empty:
            raise ValueError(f"comparison_municipalities: {code} is not in the CBS municipal table (region_code)")
        caseload = own.loc[own["year"] == own["year"].max(), "bijstandsontvangers"].iloc[0]
        # CBS rounds counts to tens, so rates of small municipalities are noise: use their own rates only with at
        # least 100 exits over 2015-2017, else the national ones; clip to a plausible range either way.
        enough = own["uitstroom"].sum() >= 100
        out_pct = own["uitstroom_pct"].mean()
        work_share = own["uitstroom_werk"].sum() / own["uitstroom"].sum() if enough else np.nan
        exit_multiplier = out_pct / nl_out if enough and pd.notna(out_pct) else 1.0
        work_multiplier = work_share / nl_work_share if pd.notna(work_share) else 1.0
        rows.append({
            "municipality": code,
            "caseload_2017": float(caseload) if pd.notna(caseload) else np.nan,
            "exit_multiplier": float(np.clip(exit_multiplier, 0.6, 1.5)),
            "work_share_multiplier": float(np.clip(work_multiplier, 0.6, 1.5)),
        })
    return pd.DataFrame(rows)


def all_cbs_municipalities() -> tuple[str, ...]:
    """Every municipality (GM code) in the 2017 CBS table with a caseload, except Amsterdam and Rotterdam."""
    figures = _cbs_copy("load_municipal_figures")
    figures = figures[(figures["age_group_code"].astype(str).str.strip() == "20150") & (figures["year"] == 2017)]
    codes = figures["region_code"].astype(str).str.strip()
    caseload = pd.to_numeric(figures["bijstandsontvangers"], errors="coerce")
    keep = codes.str.startswith("GM") & (caseload > 0) & ~codes.isin([AMSTERDAM, ROTTERDAM])
    return tuple(sorted(codes[keep]))


# --------------------------------------------------------------------------------------------------------------
# Areas
# --------------------------------------------------------------------------------------------------------------

def build_areas(comparison_municipalities=DEFAULT_COMPARISON) -> pd.DataFrame:
    """The area file (contract columns plus ``borough``) for the default design; does not depend on the seed.

    Rotterdam's 42 neighbourhood sizes split the real 2017 CBS caseload (46,210) with a fixed uneven pattern;
    each comparison municipality is one area sized by its real 2017 CBS caseload.
    """
    comparison = list(comparison_municipalities)
    if AMSTERDAM in comparison or ROTTERDAM in comparison:
        raise ValueError("comparison_municipalities: must not contain GM0363 or GM0599 (they carry interventions)")
    profile = _municipal_profile([ROTTERDAM, *comparison]).set_index("municipality")
    rows = []
    for code, name, borough, size in AMSTERDAM_AREAS:
        rows.append({"municipality": AMSTERDAM, "area": code, "area_name": name, "borough": borough,
                     "recipients_2018": size, "cohort_start": COHORT_SCHEDULE[code],
                     "counter_performance_start": None, "outreach_start": OUTREACH_SCHEDULE[borough]})
    rotterdam_total = profile.loc[ROTTERDAM, "caseload_2017"]
    # Fixed uneven pattern (no randomness) so that neighbourhoods differ in size: weights between 0.55 and 1.45.
    weights = 1.0 + 0.45 * np.sin(np.arange(42) * 2.3 + 0.7)
    sizes = np.round(rotterdam_total * weights / weights.sum()).astype(int)
    for k, name in enumerate(ROTTERDAM_AREAS):
        code = f"RTM{k + 1:02d}"
        rows.append({"municipality": ROTTERDAM, "area": code, "area_name": name, "borough": "",
                     "recipients_2018": int(sizes[k]), "cohort_start": None,
                     "counter_performance_start": COUNTER_SCHEDULE[code], "outreach_start": None})
    for code in comparison:
        rows.append({"municipality": code, "area": code, "area_name": MUNICIPALITY_NAMES.get(code, code),
                     "borough": "", "recipients_2018": int(round(profile.loc[code, "caseload_2017"])),
                     "cohort_start": None, "counter_performance_start": None, "outreach_start": None})
    areas = pd.DataFrame(rows)
    for column in ("cohort_start", "counter_performance_start", "outreach_start"):
        areas[column] = pd.to_datetime(areas[column], format="%Y-%m")
    areas["recipients_2018"] = areas["recipients_2018"].astype(np.int64)
    return areas


# --------------------------------------------------------------------------------------------------------------
# Person-level simulation
# --------------------------------------------------------------------------------------------------------------

_NO_START = 10**6  # period used for "never starts"
_DURATION_EDGES = np.array([6, 12, 24, 60])
_AGE_EDGES = np.array([27, 45, 55, 65])
_MAX_DURATION = 1200


def _duration_band(d):
    return np.searchsorted(_DURATION_EDGES, d, side="right")


def _reentry_table(baseline: Baseline) -> np.ndarray:
    """Monthly re-entry hazard by reason (rows) and months since exit (columns 0..window).

    Piecewise constant on gaps 2-6, 7-12, 13-60 so that the cumulative share back within 6, 12, 60 months matches
    :data:`REENTRY_TARGETS` (a re-entry one month after the exit month is not possible: CBS merges spells with a
    gap under 30 days).
    """
    window = baseline.reentry_window_months
    table = np.zeros((3, window + 1), dtype=np.float32)
    for row, reason in enumerate(REASONS):
        p6, p12, p60 = REENTRY_TARGETS[reason]
        r1 = 1 - (1 - p6) ** (1 / 5)
        r2 = 1 - ((1 - p12) / (1 - p6)) ** (1 / 6)
        r3 = 1 - ((1 - p60) / (1 - p12)) ** (1 / 48)
        table[row, 2:7] = r1
        table[row, 7:13] = r2
        table[row, 13:window + 1] = r3
    return table


@dataclass
class _Block:
    """Persons of a group of areas simulated together, with the worlds they need and one random stream."""

    name: str
    area_index: np.ndarray          # global area indices in this block
    worlds: tuple                   # "all" and "without_<intervention>" for each intervention run here
    rng: np.random.Generator
    persons: dict = field(default_factory=dict)
    n_initial: int = 0
    present: np.ndarray | None = None  # number of persons present (entered) by each simulated month
    static_spells: dict = field(default_factory=dict)


def _draw_traits(rng, n, year, baseline: Baseline, exempt_share, age_mean):
    """Traits of people entering the register in ``year`` (array) with a given mean age."""
    age = 18.0 + rng.gamma(shape=2.2, scale=(age_mean - 18.0) / 2.2, size=n)
    age = np.minimum(age, 66.0)
    birth_year = np.floor(year - age).astype(np.int32)
    education = rng.choice(3, size=n, p=np.asarray(baseline.education_shares)).astype(np.int8)
    refugee_p = np.where((year >= 2016) & (year <= 2017), baseline.refugee_share_2016_2017, baseline.refugee_share)
    refugee = rng.random(n) < refugee_p
    exempt = rng.random(n) < exempt_share
    return birth_year, education, refugee, exempt


def _static_log_hazards(baseline: Baseline, education, refugee, exempt, exit_mult, work_mult, enf_mult,
                        area_effect):
    """Time-invariant part of the log hazards (work, enforcement, other) of each person, float32."""
    lw = (np.log(baseline.base_work) + np.log(np.asarray(baseline.education_work))[education]
          + np.where(refugee, np.log(baseline.refugee_work), 0.0) + np.where(exempt, np.log(baseline.exempt_work), 0.0)
          + np.log(exit_mult * work_mult) + area_effect)
    # The work share multiplier moves hazard from "other" to "work" keeping the total near exit_mult.
    le = (np.log(baseline.base_enforcement) + np.where(exempt, np.log(baseline.exempt_enforcement), 0.0)
          + np.log(exit_mult * enf_mult) + area_effect)
    other_mult = np.clip(1.0 - (work_mult - 1.0) * baseline.base_work / baseline.base_other, 0.3, 3.0)
    lo = np.log(baseline.base_other) + np.log(exit_mult * other_mult) + area_effect
    return lw.astype(np.float32), le.astype(np.float32), lo.astype(np.float32)


def _age_band(age):
    return np.searchsorted(_AGE_EDGES, age, side="right")


def _copy_state(state: dict) -> dict:
    """Deep copy of one world's simulation state (arrays and count arrays)."""
    out = {k: v.copy() for k, v in state.items() if k != "counts"}
    out["counts"] = {c: v.copy() for c, v in state["counts"].items()}
    return out


class _Simulator:
    """Runs the monthly loop for all blocks; keeps the panel counts of every world."""

    def __init__(self, *, seed, scale, effects: Effects, baseline: Baseline, areas: pd.DataFrame, start, end,
                 record_spells: bool = True, municipalities=None, counterfactuals=INTERVENTIONS):
        self.seed = seed
        self.counts = {}   # (block, world) -> dict of (n_local_areas, T) int arrays
        self.spells = {}   # block -> dict of arrays (all-interventions world)
        self.scale = scale
        self.effects = effects
        self.baseline = baseline
        self.areas = areas.reset_index(drop=True)
        self.start = pd.Timestamp(start)
        self.end = pd.Timestamp(end)
        self.p0 = month_to_period(self.start)
        self.T = month_to_period(self.end) - self.p0 + 1
        if self.T < 1:
            raise ValueError(f"simulate_register: end {end} lies before start {start}")
        self.record_spells = record_spells
        national = _cbs_copy("load_national_monthly").set_index("month")["benefits_below_aow_thousands"].dropna()
        self.size_factor = (float(national[self.start] / national[pd.Timestamp("2017-12-01")])
                            if self.start in national.index else 1.0)
        self.cycle = business_cycle(self.start, self.end, elasticity=baseline.cycle_elasticity,
                                    covid_inflow_multiplier=baseline.covid_inflow_multiplier,
                                    covid_exit_multiplier=baseline.covid_exit_multiplier,
                                    covid_decay_months=baseline.covid_decay_months)
        self.reentry = _reentry_table(baseline)
        n_areas = len(self.areas)
        root = np.random.SeedSequence(seed)
        area_rng, *block_seeds = root.spawn(4)
        area_rng = np.random.default_rng(area_rng)
        self.area_effect = area_rng.normal(0.0, baseline.area_effect_sd, n_areas).astype(np.float64)
        h = effects.cohort_area_heterogeneity
        self.cohort_area_factor = area_rng.uniform(1.0 - h, 1.0 + h, n_areas)
        codes = sorted(self.areas["municipality"].unique())
        profile = _municipal_profile(codes).set_index("municipality")
        self.exit_mult = self.areas["municipality"].map(profile["exit_multiplier"]).to_numpy(float)
        self.work_mult = self.areas["municipality"].map(profile["work_share_multiplier"]).to_numpy(float)
        prof = self.areas["municipality"].map(lambda c: MUNICIPALITY_PROFILES.get(c, {}))
        self.enf_mult = np.array([p.get("enforcement", 1.0) for p in prof])
        self.reentry_mult = np.array([p.get("reentry", 1.0) for p in prof])
        self.exempt_share = np.array([p.get("exempt_share", baseline.exempt_share) for p in prof])
        self.long_term_log = np.log([p.get("long_term_exit", 1.0) for p in prof]).astype(np.float32)
        self.has_long_term_profile = bool((self.long_term_log != 0).any())
        b = baseline
        self._log_dur = [np.log(np.asarray(v, np.float32)) for v in
                         (b.duration_work, b.duration_enforcement, b.duration_other)]
        self._log_age = [np.log(np.asarray(v, np.float32)) for v in (b.age_work, b.age_other)]

        def start_period(column):
            values = self.areas[column] if column in self.areas else pd.Series(pd.NaT, index=self.areas.index)
            return month_to_period(pd.to_datetime(values)).fillna(_NO_START).to_numpy(np.int64)

        self.cohort_start = start_period("cohort_start")
        self.counter_start = start_period("counter_performance_start")
        self.outreach_start = start_period("outreach_start")
        municipality = self.areas["municipality"].to_numpy()
        is_ams = municipality == AMSTERDAM
        is_rtm = municipality == ROTTERDAM
        # Random draws per area (above) cover every area of ``areas``, so that a register restricted to some
        # municipalities is identical to their part of the full register; only the selected ones are simulated.
        selected = (np.ones(n_areas, bool) if municipalities is None
                    else np.isin(municipality, list(municipalities)))
        self.blocks = []
        for name, mask, interventions, block_seed in (
                ("amsterdam", is_ams, ("cohort", "outreach"), block_seeds[0]),
                ("rotterdam", is_rtm, ("counter",), block_seeds[1]),
                ("comparison", ~(is_ams | is_rtm), (), block_seeds[2])):
            worlds = ("all", *(f"without_{k}" for k in interventions if k in counterfactuals))
            if (mask & selected).any():
                self.blocks.append(_Block(name=name, area_index=np.flatnonzero(mask & selected), worlds=worlds,
                                          rng=np.random.default_rng(block_seed)))
        for block in self.blocks:
            self._populate(block)

    # -- population -------------------------------------------------------------------------------------------
    def _area_sizes(self, block):
        """Initial stock per area: ``recipients_2018`` x scale, taken back to the window start with the national
        caseload index (CBS 37789ksz), so that the stock reaches the area's size around 2017-18."""
        return np.maximum(1, np.round(self.areas["recipients_2018"].to_numpy(float)[block.area_index]
                                      * self.scale * self.size_factor)).astype(np.int64)

    def _static_for(self, area, education, refugee, exempt):
        return _static_log_hazards(self.baseline, education, refugee, exempt, self.exit_mult[area],
                                   self.work_mult[area], self.enf_mult[area], self.area_effect[area])

    def _hazards(self, lw, le, lo, duration, age, area, cycle=1.0):
        """Monthly hazards (work, enforcement, other) without intervention effects."""
        band = _duration_band(duration)
        age_band = _age_band(age)
        dw, de, do = self._log_dur
        aw, ao = self._log_age
        if self.has_long_term_profile:
            extra = np.where(band == 4, self.long_term_log[area], np.float32(0.0))
            lw, le, lo = lw + extra, le + extra, lo + extra
        cycle = np.float32(cycle)
        hw = np.exp(lw + dw[band] + aw[age_band]) * cycle
        he = np.exp(le + de[band]) * cycle
        ho = np.exp(lo + do[band] + ao[age_band]) * cycle
        return hw, he, ho

    def _populate(self, block: _Block):
        """Initial stock (stationary durations), recent leavers, and the scheduled new entrants."""
        rng = block.rng
        b = self.baseline
        sizes = self._area_sizes(block)
        start_year = self.start.year + (self.start.month - 1) / 12
        # Initial stock: candidates who entered d months before the window with entrant traits, accepted with their
        # survival probability to the window start -> draws from the stationary stock (dynamic selection included).
        parts = []
        for local, area in enumerate(block.area_index):
            need = int(sizes[local])
            got = []
            total = 0
            for _attempt in range(1000):
                if total >= need:
                    break
                m = max(64, int(need * 4))
                d = rng.integers(1, 420, m)
                by, edu, ref, ex = _draw_traits(rng, m, start_year - d / 12, b, self.exempt_share[area],
                                                b.entrant_age_mean)
                lw, le, lo = self._static_for(np.full(m, area), edu, ref, ex)
                age_entry = np.floor(start_year - d / 12) - by
                cum = np.zeros(m)
                # cumulative hazard over the spell, by duration band (age held at entry for simplicity)
                for band_lo, band_hi in ((1, 5), (6, 11), (12, 23), (24, 59), (60, _MAX_DURATION)):
                    months = np.clip(np.minimum(d, band_hi) - band_lo + 1, 0, None)
                    hw, he, ho = self._hazards(lw, le, lo, np.full(m, band_lo), age_entry + (band_lo / 12),
                                               np.full(m, area))
                    cum += months * (hw + he + ho)
                accept = rng.random(m) < np.exp(-cum)
                idx = np.flatnonzero(accept)
                got.append((d[idx], by[idx], edu[idx], ref[idx], ex[idx]))
                total += len(idx)
            else:
                raise RuntimeError(f"initial stock of area {self.areas['area'].iloc[area]} could not be drawn")
            d, by, edu, ref, ex = (np.concatenate(x)[:need] for x in zip(*got))
            parts.append({"area": np.full(need, area, np.int32), "birth_year": by, "education": edu,
                          "refugee": ref, "exempt": ex, "start": (1 - d).astype(np.int32),
                          "entry": np.full(need, 1, np.int32), "last_exit": np.full(need, -_NO_START, np.int32),
                          "last_reason": np.full(need, -1, np.int8), "on": np.ones(need, bool)})
        stock = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        # expected exits per month in each area at the start (for leavers and the steady-state inflow)
        lw, le, lo = self._static_for(stock["area"], stock["education"], stock["refugee"], stock["exempt"])
        age0 = self.start.year - stock["birth_year"]
        hw, he, ho = self._hazards(lw, le, lo, np.maximum(1 - stock["start"], 1), age0, stock["area"])
        local_of = np.full(len(self.areas), -1)
        local_of[block.area_index] = np.arange(len(block.area_index))
        exits_per_month = np.bincount(local_of[stock["area"]], weights=hw + he + ho, minlength=len(sizes))
        reason_mix = np.vstack([np.bincount(local_of[stock["area"]], weights=h, minlength=len(sizes))
                                for h in (hw, he, ho)])
        reason_mix = reason_mix / reason_mix.sum(axis=0, keepdims=True)

        # Recent leavers (exit in the 60 months before the window) who have not come back by the window start.
        window = b.reentry_window_months
        survival_off = np.exp(-np.cumsum(self.reentry, axis=1))  # P(still off after gap g)
        leaver_parts = []
        for local, area in enumerate(block.area_index):
            n = rng.poisson(exits_per_month[local] * window)
            exit_period = rng.integers(1 - window, 1, n).astype(np.int32)  # e in [-59, 0]
            reason = rng.choice(3, size=n, p=reason_mix[:, local]).astype(np.int8)
            gap_at_start = np.minimum(0 - exit_period, window)
            keep = rng.random(n) < survival_off[reason, gap_at_start] ** self.reentry_mult[area]
            n_keep = int(keep.sum())
            exit_period, reason = exit_period[keep], reason[keep]
            by, edu, ref, ex = _draw_traits(rng, n_keep, start_year + (exit_period - 1) / 12, b,
                                            self.exempt_share[area], b.entrant_age_mean)
            prior_duration = 1 + rng.geometric(1 / 30, n_keep).astype(np.int32)
            leaver_parts.append({"area": np.full(n_keep, area, np.int32), "birth_year": by, "education": edu,
                                 "refugee": ref, "exempt": ex, "start": (exit_period - prior_duration + 1),
                                 "entry": np.full(n_keep, 1, np.int32), "last_exit": exit_period,
                                 "last_reason": reason, "on": np.zeros(n_keep, bool)})
        leavers = {k: np.concatenate([p[k] for p in leaver_parts]) for k in leaver_parts[0]}

        # New entrants: Poisson counts per area and month, steady state with the exits, times the cycle.
        inflow_mult = self.cycle["inflow_multiplier"].to_numpy()
        lam = exits_per_month * b.new_entry_factor
        counts = rng.poisson(lam[None, :] * inflow_mult[:, None])  # (T, areas)
        entry = np.repeat(np.repeat(np.arange(1, self.T + 1, dtype=np.int32), len(sizes)), counts.ravel())
        area = np.tile(block.area_index.astype(np.int32), self.T).repeat(counts.ravel())
        years = self.start.year + ((self.start.month - 1) + entry - 1) // 12
        by, edu, ref, ex = _draw_traits(rng, len(entry), years.astype(float), b, self.exempt_share[area],
                                        b.entrant_age_mean)
        n_new = len(entry)
        entrants = {"area": area, "birth_year": by, "education": edu, "refugee": ref, "exempt": ex,
                    "start": entry.copy(), "entry": entry, "last_exit": np.full(n_new, -_NO_START, np.int32),
                    "last_reason": np.full(n_new, -1, np.int8), "on": np.zeros(n_new, bool)}

        persons = {k: np.concatenate([stock[k], leavers[k], entrants[k]]) for k in stock}
        n = len(persons["area"])
        # Static per-person draws that are the same in every world (common random numbers).
        e = self.effects
        persons["offset_cohort"] = rng.integers(0, max(1, e.cohort_invitation_months), n).astype(np.int32)
        persons["offset_counter"] = rng.integers(0, max(1, e.counter_reach_months), n).astype(np.int32)
        persons["offset_outreach"] = rng.integers(0, max(1, e.outreach_reach_months), n).astype(np.int32)
        persons["outreach_reached"] = rng.random(n) < e.outreach_reach_share
        persons["lw"], persons["le"], persons["lo"] = self._static_for(
            persons["area"], persons["education"], persons["refugee"], persons["exempt"])
        persons["local_area"] = local_of[persons["area"]].astype(np.int32)
        block.persons = persons
        block.n_initial = len(stock["area"]) + len(leavers["area"])
        block.present = np.searchsorted(persons["entry"], np.arange(1, self.T + 2), side="right")
        # Pre-window spells of the leavers (identical in every world).
        n_stock = len(stock["area"])
        leaver_idx = np.arange(n_stock, n_stock + len(leavers["area"]))
        block.static_spells = {"person": leaver_idx, "start": leavers["start"], "end": leavers["last_exit"],
                               "reason": leavers["last_reason"]}

    # -- monthly loop -----------------------------------------------------------------------------------------
    def run(self):
        """Simulate every block month by month in all its worlds with the same uniforms; returns ``self``.

        A world without intervention :math:`k` is identical to the all-interventions world until the first month
        in which :math:`k` can act (the earliest start of :math:`k` in the block), because both use the same
        uniforms; it is therefore simulated from that month on, starting from a copy of the all-world's state.
        Hazards without intervention effects are cached per person and recomputed only when they change: when
        the spell's duration band changes (months 1, 6, 12, 24, 60 of a spell) and every January (age band).
        """
        for block in self.blocks:
            self._run_block(block)
        return self

    def _divergence(self, block, world) -> int:
        """First simulated month index in which ``world`` can differ from the all-interventions world."""
        if world == "all":
            return 0
        starts = {"without_cohort": self.cohort_start, "without_counter": self.counter_start,
                  "without_outreach": self.outreach_start}[world][block.area_index]
        first = int(starts.min()) - self.p0
        return int(min(max(first, 0), self.T))

    def _run_block(self, block):
        T = self.T
        e = self.effects
        cycle_exit = self.cycle["exit_multiplier"].to_numpy(np.float32)
        cycle_in = self.cycle["inflow_multiplier"].to_numpy(np.float32)
        covid_pause = (1.0 - e.cohort_covid_pause * _first_lockdown(self.cycle["month"])).astype(np.float32)
        window = self.baseline.reentry_window_months
        P = block.persons
        n_local = len(block.area_index)
        n_all = len(P["area"])
        loc = P["local_area"]
        area = P["area"]
        birth_year = P["birth_year"]
        not_exempt = ~P["exempt"]
        # static parts of the intervention timing: first month of the person's invitation / assignment
        cohort_x0 = self.cohort_start[area] + P["offset_cohort"]
        counter_x0 = self.counter_start[area] + P["offset_counter"]
        outreach_x0 = self.outreach_start[area] + P["offset_outreach"]
        cohort_factor = self.cohort_area_factor[area]
        outreach_eligible = not_exempt & P["outreach_reached"]
        first_cohort = int(cohort_x0.min()) if n_all else _NO_START
        first_counter = int(counter_x0.min()) if n_all else _NO_START
        first_outreach = int(outreach_x0.min()) if n_all else _NO_START
        long_term = self.long_term_log
        dw, de, do = self._log_dur
        aw, ao = self._log_age
        reentry_mult = (self.reentry_mult[area].astype(np.float32) if self.reentry_mult.min() != 1.0 else None)

        divergence = {world: self._divergence(block, world) for world in block.worlds}
        initial = {"on": P["on"].copy(), "start": P["start"].copy(), "last_exit": P["last_exit"].copy(),
                   "last_reason": P["last_reason"].copy(), "hazard": np.zeros((3, n_all), np.float32),
                   "n_on": np.bincount(loc[P["on"]], minlength=n_local).astype(np.int64),
                   "counts": {c: np.zeros((n_local, T), np.int64) for c in COUNT_COLUMNS}}
        states = {"all": initial}
        ended = {"person": [], "start": [], "end": [], "reason": []}
        record = self.record_spells
        age_band = None
        for k in range(T):
            t = k + 1                                   # simulation period (1 = start month)
            abs_t = self.p0 + k                         # calendar period (2015-01 = 1)
            month0 = (self.start.month - 1 + k) % 12    # 0 = January
            year = self.start.year + (self.start.month - 1 + k) // 12
            n_t = block.present[k]
            u = block.rng.random((3, n_t), dtype=np.float32)
            new_lo = block.present[k - 1] if k > 0 else block.n_initial
            new_hi = n_t
            new_count = np.bincount(loc[new_lo:new_hi], minlength=n_local)
            if k == 0 or month0 == 0:
                age_band = _age_band(year - birth_year)
            for world in block.worlds:
                if divergence[world] == k and world != "all":
                    states[world] = _copy_state(states["all"])
            for world in block.worlds:
                if k < divergence[world]:
                    continue
                st = states[world]
                cnt = st["counts"]
                on, start, last_exit, last_reason = st["on"], st["start"], st["last_exit"], st["last_reason"]
                hazard = st["hazard"]
                # new entrants of this month
                on[new_lo:new_hi] = True
                start[new_lo:new_hi] = t
                cnt["inflow"][:, k] += new_count
                # exits of people on benefit since an earlier month
                idx = np.flatnonzero(on[:n_t] & (start[:n_t] < t))
                duration = t - start[idx]
                if k == 0 or month0 == 0:
                    stale = idx
                else:
                    changed = (duration == 1) | (duration == 6) | (duration == 12) | (duration == 24) | (duration == 60)
                    stale = idx[changed]
                if len(stale):
                    band = _duration_band(t - start[stale])
                    ab = age_band[stale]
                    extra = np.where(band == 4, long_term[area[stale]], np.float32(0.0))
                    hazard[0, stale] = np.exp(P["lw"][stale] + extra + dw[band] + aw[ab])
                    hazard[1, stale] = np.exp(P["le"][stale] + extra + de[band])
                    hazard[2, stale] = np.exp(P["lo"][stale] + extra + do[band] + ao[ab])
                c = cycle_exit[k]
                hw = hazard[0, idx] * c
                he = hazard[1, idx] * c
                ho = hazard[2, idx] * c
                if world != "without_cohort" and abs_t >= first_cohort:
                    x = np.maximum(cohort_x0[idx], start[idx] + self.p0)
                    m = abs_t - x
                    act = np.flatnonzero((m >= 0) & not_exempt[idx])
                    if len(act):
                        ma = m[act]
                        ramp = np.minimum(1.0, (ma + 1) / e.cohort_ramp_months)
                        het = (cohort_factor[idx[act]] * np.where(duration[act] >= 60, e.cohort_long_term_factor, 1.0)
                               * covid_pause[k])
                        mult = 1.0 + (e.cohort_work_multiplier - 1.0) * ramp * het
                        hw[act] = hw[act] * mult.astype(np.float32)
                        nr = act[ma < e.cohort_nonresponse_months]
                        he[nr] = he[nr] + np.float32(e.cohort_nonresponse_hazard)
                if world != "without_counter" and abs_t >= first_counter:
                    x = np.maximum(counter_x0[idx], start[idx] + (self.p0 - 1 + e.counter_min_duration_months))
                    m = abs_t - x
                    act = np.flatnonzero((m >= 0) & not_exempt[idx])
                    if len(act):
                        age = year - birth_year[idx[act]]
                        work = np.where(age < 45, e.counter_work_multiplier_young, e.counter_work_multiplier_old)
                        hw[act] = hw[act] * work.astype(np.float32)
                        enf = act[m[act] < e.counter_enforcement_months]
                        he[enf] = he[enf] + np.float32(e.counter_enforcement_hazard)
                        ho[act] = ho[act] * np.float32(e.counter_other_multiplier)
                if world != "without_outreach" and abs_t >= first_outreach:
                    x = np.maximum(outreach_x0[idx], start[idx] + self.p0)
                    m = abs_t - x
                    act = np.flatnonzero((m >= 0) & outreach_eligible[idx])
                    if len(act):
                        ramp = np.minimum(1.0, (m[act] + 1) / e.outreach_ramp_months)
                        mult = 1.0 + (e.outreach_work_multiplier - 1.0) * ramp
                        hw[act] = hw[act] * mult.astype(np.float32)
                exit_w = u[0, idx] < hw
                exit_e = u[1, idx] < he
                exit_o = u[2, idx] < ho
                leaving = np.flatnonzero(exit_w | exit_e | exit_o)
                out_idx = idx[leaving]
                out_reason = np.where(exit_o[leaving], 2, np.where(exit_e[leaving], 1, 0)).astype(np.int8)
                out_loc = loc[out_idx]
                out_count = np.bincount(out_loc, minlength=n_local)
                for r, column in enumerate(("outflow_work", "outflow_enforcement", "outflow_other")):
                    cnt[column][:, k] += np.bincount(out_loc[out_reason == r], minlength=n_local)
                if world == "all" and record:
                    ended["person"].append(out_idx)
                    ended["start"].append(start[out_idx].copy())
                    ended["end"].append(np.full(len(out_idx), t, np.int32))
                    ended["reason"].append(out_reason)
                on[out_idx] = False
                last_exit[out_idx] = t
                last_reason[out_idx] = out_reason
                # re-entries of earlier leavers (at least one full month off, at most the window)
                recent = last_exit[:n_t]
                off = np.flatnonzero((recent <= t - 2) & (recent >= t - window) & ~on[:n_t])
                gap = t - last_exit[off]
                r_hazard = self.reentry[last_reason[off], gap] * cycle_in[k]
                if reentry_mult is not None:
                    r_hazard = r_hazard * reentry_mult[off]
                back = off[u[0, off] < r_hazard]
                back_gap = t - last_exit[back]
                on[back] = True
                start[back] = t
                back_loc = loc[back]
                back_count = np.bincount(back_loc, minlength=n_local)
                cnt["inflow"][:, k] += back_count
                cnt["reinflow_6m"][:, k] += np.bincount(back_loc[back_gap <= 6], minlength=n_local)
                cnt["reinflow_12m"][:, k] += np.bincount(back_loc[back_gap <= 12], minlength=n_local)
                stock = st["n_on"] + new_count + back_count
                cnt["stock"][:, k] = stock
                st["n_on"] = stock - out_count
        for world in block.worlds:
            if world not in states:   # the intervention never acts inside the window
                states[world] = _copy_state(states["all"])
        for world in block.worlds:
            cnt = states[world]["counts"]
            cnt["outflow"] = cnt["outflow_work"] + cnt["outflow_enforcement"] + cnt["outflow_other"]
            self.counts[(block.name, world)] = cnt
        if record:
            st = states["all"]
            running = np.flatnonzero(st["on"])
            self.spells[block.name] = {
                "person": np.concatenate([block.static_spells["person"], *ended["person"], running]),
                "start": np.concatenate([block.static_spells["start"], *ended["start"], st["start"][running]]),
                "end": np.concatenate([block.static_spells["end"], *ended["end"],
                                       np.full(len(running), _NO_START, np.int32)]),
                "reason": np.concatenate([block.static_spells["reason"], *ended["reason"],
                                          np.full(len(running), -1, np.int8)]),
            }

    # -- outputs ----------------------------------------------------------------------------------------------
    def panel(self, world="all"):
        """Area x month panel of one world (areas of blocks that simulate that world)."""
        frames = []
        for block in self.blocks:
            if world not in block.worlds:
                continue
            cnt = self.counts[(block.name, world)]
            n_local = len(block.area_index)
            frame = pd.DataFrame({
                "municipality": np.repeat(self.areas["municipality"].to_numpy()[block.area_index], self.T),
                "area": np.repeat(self.areas["area"].to_numpy()[block.area_index], self.T),
                "period": np.tile(np.arange(self.p0, self.p0 + self.T, dtype=np.int64), n_local),
            })
            for column in COUNT_COLUMNS:
                frame[column] = cnt[column].reshape(-1)
            frames.append(frame)
        panel = pd.concat(frames, ignore_index=True)
        panel["month"] = period_to_month(panel["period"].to_numpy())
        starts = {"first_treat_cohort": self.cohort_start, "first_treat_counter": self.counter_start,
                  "first_treat_outreach": self.outreach_start}
        area_pos = pd.Series(np.arange(len(self.areas)),
                             index=pd.MultiIndex.from_frame(self.areas[["municipality", "area"]]))
        pos = area_pos.reindex(pd.MultiIndex.from_frame(panel[["municipality", "area"]])).to_numpy()
        for column, values in starts.items():
            v = values[pos]
            panel[column] = np.where(v >= _NO_START, 0, v).astype(np.int64)
        add_rates(panel)
        panel = panel.sort_values(["municipality", "area", "period"], kind="stable").reset_index(drop=True)
        return panel[list(PANEL_COLUMNS)]

    def worlds(self) -> list[str]:
        """Names of the simulated worlds, ``"all"`` first."""
        names = ["all"]
        for block in self.blocks:
            names += [w for w in block.worlds if w not in names]
        return names

    def world_panels(self) -> dict:
        """The panel of every simulated world (:meth:`panel`), keyed by world name."""
        return {world: self.panel(world) for world in self.worlds()}

    def truth(self, panels: dict | None = None):
        """Long truth table (see module docstring); ``panels`` are the world panels if already built."""
        panels = self.world_panels() if panels is None else panels
        full = panels["all"]
        rows = []
        for intervention, column in (("cohort", "first_treat_cohort"), ("counter", "first_treat_counter"),
                                     ("outreach", "first_treat_outreach")):
            if f"without_{intervention}" not in panels:
                continue
            without = panels[f"without_{intervention}"]
            treated = without[without[column] > 0]
            keys = ["municipality", "area", "period"]
            merged = treated.merge(full[keys + list(TRUTH_OUTCOMES)], on=keys, suffixes=("_without", ""))
            for outcome in TRUTH_OUTCOMES:
                diff = merged[outcome].to_numpy(float) - merged[f"{outcome}_without"].to_numpy(float)
                frame = pd.DataFrame({"group": merged[column].to_numpy(), "period": merged["period"].to_numpy(),
                                      "diff": diff})
                agg = frame.groupby(["group", "period"], sort=True)["diff"].agg(["mean", "count"]).reset_index()
                rows.append(pd.DataFrame({"intervention": intervention, "outcome": outcome,
                                          "group": agg["group"].astype(np.int64),
                                          "period": agg["period"].astype(np.int64),
                                          "att": agg["mean"].to_numpy(float),
                                          "n_areas": agg["count"].astype(np.int64)}))
        if not rows:
            return pd.DataFrame({"intervention": np.array([], object), "outcome": np.array([], object),
                                 "group": np.array([], np.int64), "period": np.array([], np.int64),
                                 "att": np.array([], float), "n_areas": np.array([], np.int64)})
        return pd.concat(rows, ignore_index=True)

    def spells_frame(self):
        """The person-spell register of the all-interventions world (contract columns)."""
        frames = []
        person_offset = 0
        for block in self.blocks:
            S = self.spells[block.name]
            P = block.persons
            n_persons = len(P["area"])
            # Person ids: order of first appearance within the block, offset per block, starting at 1.
            pid = S["person"].astype(np.int64) + person_offset + 1
            area = P["area"][S["person"]]
            start = S["start"].astype(np.int64) + self.p0 - 1
            end = S["end"].astype(np.int64)
            open_ = end >= _NO_START
            end_abs = np.where(open_, 0, end + self.p0 - 1)
            end_month = period_to_month(end_abs)
            end_month[open_] = np.datetime64("NaT", "ns")
            reason = np.array(["work", "enforcement", "other", None], dtype=object)[
                np.where(S["reason"] < 0, 3, S["reason"])]
            frames.append(pd.DataFrame({
                "person_id": pid,
                "municipality": self.areas["municipality"].to_numpy()[area],
                "area": self.areas["area"].to_numpy()[area],
                "spell_start": period_to_month(start),
                "spell_end": end_month,
                "exit_reason": reason,
                "birth_year": P["birth_year"][S["person"]].astype(np.int64),
                "education": np.array(["low", "middle", "high"], dtype=object)[P["education"][S["person"]]],
                "refugee": P["refugee"][S["person"]].astype(bool),
                "exempt": P["exempt"][S["person"]].astype(bool),
            }))
            person_offset += n_persons
        spells = pd.concat(frames, ignore_index=True)
        spells = spells.sort_values(["person_id", "spell_start"], kind="stable").reset_index(drop=True)
        return spells


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------

@dataclass
class SyntheticRegister:
    """A simulated register: ``spells`` and ``areas`` (data contracts), the ``truth`` and the panels.

    Attributes
    ----------
    spells, areas : DataFrame
        Person spells of the all-interventions world and the area file (contract columns).
    truth : DataFrame
        ``intervention, outcome, group, period, att, n_areas`` (see the module docstring).
    panel : DataFrame
        Area x month panel of the all-interventions world (``world_panels["all"]``). It is counted during the
        simulation and equals ``build_area_panel(spells, areas)`` exactly (tested), so callers may skip the DuckDB
        step.
    params : dict
        Everything needed to simulate the register again (also written as ``metadata.json``).
    world_panels : dict of str to DataFrame
        The panel (same columns as ``panel``) of every simulated world, keyed ``"all"`` and
        ``"without_<intervention>"`` for ``intervention`` in ``cohort``, ``counter``, ``outreach``. A world without
        :math:`k` covers only the areas of the municipality that runs :math:`k` (Amsterdam for cohort and outreach,
        Rotterdam for counter), the only areas where it differs from ``"all"``. All worlds use the same random
        numbers, so :math:`Y^{\\text{all}}_{at} - Y^{\\text{all}\\setminus k}_{at}` is the true effect of
        :math:`k` in area :math:`a` and month :math:`t` (zero before the area's start).
    """

    spells: pd.DataFrame
    areas: pd.DataFrame
    truth: pd.DataFrame
    panel: pd.DataFrame
    params: dict
    world_panels: dict = field(default_factory=dict)

    def __post_init__(self):
        if "all" not in self.world_panels:
            self.world_panels = {"all": self.panel, **self.world_panels}

    def write(self, directory) -> Path:
        """Write ``spells.parquet``, ``areas.csv``, ``truth.csv``, ``panel.parquet``, one
        ``panel_<world>.parquet`` per further world (e.g. ``panel_without_cohort.parquet``) and ``metadata.json``.

        The Parquet files are written with pyarrow (zstd, no index) so that the same seed gives identical bytes.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        frames = [("spells", self.spells), ("panel", self.panel)]
        frames += [(f"panel_{world}", frame) for world, frame in sorted(self.world_panels.items()) if world != "all"]
        for name, frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table.replace_schema_metadata(None), folder / f"{name}.parquet", compression="zstd")
        areas = self.areas.copy()
        for column in ("cohort_start", "counter_performance_start", "outreach_start"):
            areas[column] = areas[column].dt.strftime("%Y-%m-%d")
        areas.to_csv(folder / "areas.csv", index=False)
        self.truth.to_csv(folder / "truth.csv", index=False, float_format="%.10g")
        (folder / "metadata.json").write_text(json.dumps(self.params, indent=2, sort_keys=True) + "\n")
        return folder


def read_register(directory):
    """Read a register written by :meth:`SyntheticRegister.write` back into a :class:`SyntheticRegister`."""
    folder = Path(directory)
    areas = pd.read_csv(folder / "areas.csv", keep_default_na=False, na_values=[""])
    for column in ("cohort_start", "counter_performance_start", "outreach_start"):
        areas[column] = pd.to_datetime(areas[column])
    areas["borough"] = areas["borough"].fillna("")
    panel = pd.read_parquet(folder / "panel.parquet")
    worlds = {"all": panel}
    for path in sorted(folder.glob("panel_*.parquet")):
        worlds[path.stem.removeprefix("panel_")] = pd.read_parquet(path)
    return SyntheticRegister(spells=pd.read_parquet(folder / "spells.parquet"), areas=areas,
                             truth=pd.read_csv(folder / "truth.csv"), panel=panel,
                             params=json.loads((folder / "metadata.json").read_text()), world_panels=worlds)


def simulate_register(*, seed: int = 20240101, scale: float = 1.0, effects: Effects | None = None,
                      start: str = "2015-01", end: str = "2024-12",
                      comparison_municipalities=DEFAULT_COMPARISON, baseline: Baseline | None = None,
                      municipalities=None, counterfactuals=INTERVENTIONS, record_spells: bool = True,
                      ) -> SyntheticRegister:
    """Simulate the person-level register with known intervention effects.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed (and parameters) gives identical output.
    scale : float
        Multiplies every area size (``scale=1``: Amsterdam's 22 areas 33,000 recipients, Rotterdam 46,210 and the
        comparison municipalities at their real 2017 CBS caseloads, reached around 2017; the stock in 2015-01 is
        smaller by the national caseload index; tests use e.g. 0.05).
    effects : Effects, optional
        True effects; default :class:`Effects` (``Effects.none()`` for a placebo world).
    start, end : str
        First and last simulated month (the panel window).
    comparison_municipalities : sequence of str or "all"
        CBS codes of never-treated municipalities (one area each), sized from CBS 2017; ``"all"`` takes every
        municipality in the CBS table (a national-scale register of about 0.5 million recipients at scale 1).
    baseline : Baseline, optional
        Parameters of the world without interventions.
    municipalities : sequence of str, optional
        CBS codes of the municipalities to simulate, e.g. ``("GM0363",)`` for Amsterdam's 22 cohort areas only;
        default all (Amsterdam, Rotterdam and ``comparison_municipalities``). A comparison municipality is
        simulated only if listed (a listed code outside ``comparison_municipalities`` is added to them).
        Amsterdam and Rotterdam each have their own random stream and area draws that do not depend on which
        other municipalities are simulated, so a register of Amsterdam (or Rotterdam) alone is exactly that part
        of the full register (same seed and ``comparison_municipalities``); the comparison municipalities share
        one stream, so they reproduce the full register only when all of them are listed.
    counterfactuals : sequence of str
        Interventions whose world without them is simulated (default all three); the truth and
        ``world_panels`` cover these. ``("cohort",)`` with ``municipalities=("GM0363",)`` simulates exactly the
        two worlds the cohort design needs.
    record_spells : bool
        Build the person-spell register (default). ``False`` skips it for Monte Carlo: ``spells`` is then an
        empty frame with the contract columns, the panels and the truth are unchanged.

    Returns
    -------
    SyntheticRegister
    """
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"simulate_register: seed must be an int, got {seed!r}")
    if not scale > 0:
        raise ValueError(f"simulate_register: scale must be positive, got {scale!r}")
    effects = Effects() if effects is None else effects
    baseline = Baseline() if baseline is None else baseline
    if isinstance(comparison_municipalities, str):
        if comparison_municipalities != "all":
            raise ValueError("comparison_municipalities: give a sequence of GM codes or 'all'")
        comparison_municipalities = all_cbs_municipalities()
    comparison = tuple(comparison_municipalities)
    if municipalities is not None:
        if isinstance(municipalities, str):
            municipalities = (municipalities,)
        municipalities = tuple(dict.fromkeys(municipalities))
        if not municipalities:
            raise ValueError("simulate_register: municipalities must name at least one municipality")
        comparison += tuple(c for c in municipalities if c not in comparison and c not in (AMSTERDAM, ROTTERDAM))
    counterfactuals = tuple(counterfactuals)
    unknown = [k for k in counterfactuals if k not in INTERVENTIONS]
    if unknown:
        raise ValueError(f"simulate_register: counterfactuals must be among {INTERVENTIONS}, got {unknown[0]!r}")
    design = build_areas(comparison)
    sim = _Simulator(seed=int(seed), scale=float(scale), effects=effects, baseline=baseline, areas=design,
                     start=start, end=end, record_spells=record_spells, municipalities=municipalities,
                     counterfactuals=counterfactuals).run()
    areas = design if municipalities is None else (
        design[design["municipality"].isin(municipalities)].reset_index(drop=True))
    spells = sim.spells_frame() if record_spells else empty_spells()
    worlds = sim.world_panels()
    panel = worlds["all"]
    truth = sim.truth(worlds)
    from bijstand import __version__

    params = {"seed": int(seed), "scale": float(scale), "start": str(start), "end": str(end),
              "comparison_municipalities": list(comparison), "effects": asdict(effects),
              "baseline": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(baseline).items()},
              "bijstand_version": __version__, "n_spells": int(len(spells)) if record_spells else None,
              "n_persons": int(sum(len(block.persons["area"]) for block in sim.blocks)), "n_areas": int(len(areas))}
    if municipalities is not None:
        params["municipalities"] = list(municipalities)
    if counterfactuals != INTERVENTIONS:
        params["counterfactuals"] = list(counterfactuals)
    if not record_spells:
        params["record_spells"] = False
    return SyntheticRegister(spells=spells, areas=areas, truth=truth, panel=panel, params=params,
                             world_panels=worlds)


SPELLS_COLUMNS = ("person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason", "birth_year",
                  "education", "refugee", "exempt")
"""Columns of the synthetic spells (the contract's required columns and the person traits)."""


def empty_spells() -> pd.DataFrame:
    """A spells frame with no rows and the synthetic register's columns and dtypes (``record_spells=False``)."""
    return pd.DataFrame({
        "person_id": np.array([], np.int64), "municipality": np.array([], object), "area": np.array([], object),
        "spell_start": np.array([], "datetime64[ns]"), "spell_end": np.array([], "datetime64[ns]"),
        "exit_reason": np.array([], object), "birth_year": np.array([], np.int64),
        "education": np.array([], object), "refugee": np.array([], bool), "exempt": np.array([], bool)})


def true_aggregate(truth: pd.DataFrame, intervention: str, outcome: str, kind: str = "simple", *,
                   min_event: int | None = None, max_event: int | None = None):
    """True aggregate effect with the weights of R ``did::aggte``.

    With :math:`n_g` the number of treated areas in group :math:`g` (R's :math:`P(G=g)` up to a constant) and
    :math:`\\text{ATT}(g,t)` from ``truth``:

    * ``simple``: :math:`\\sum_{g}\\sum_{t \\ge g} n_g \\text{ATT}(g,t) / \\sum_g\\sum_{t\\ge g} n_g`
      (post-treatment cells weighted by group size) -> float;
    * ``dynamic``: :math:`\\theta(e) = \\sum_g n_g \\text{ATT}(g, g+e) / \\sum_g n_g` over groups observed at
      event time :math:`e` -> DataFrame ``event_time, att``; ``attrs["overall"]`` is the mean over
      :math:`e \\ge 0` (aggte's overall dynamic ATT);
    * ``group``: :math:`\\theta(g)` = mean of :math:`\\text{ATT}(g,t)` over :math:`t \\ge g` -> DataFrame
      ``group, att``; ``attrs["overall"]`` weights groups by :math:`n_g`;
    * ``calendar``: :math:`\\theta(t) = \\sum_{g \\le t} n_g \\text{ATT}(g,t)/\\sum_{g\\le t} n_g` -> DataFrame
      ``period, att``; ``attrs["overall"]`` is the mean over periods.

    ``min_event``/``max_event`` restrict event times (like aggte's ``min_e``/``max_e``; simple and group use
    post-treatment cells only, within ``max_event``).
    """
    sel = truth[(truth["intervention"] == intervention) & (truth["outcome"] == outcome)]
    if sel.empty:
        raise ValueError(f"true_aggregate: no truth for intervention={intervention!r}, outcome={outcome!r}")
    # Shares are undefined (NaN) in cells whose treated areas had no inflow; they carry no weight.
    sel = sel.dropna(subset=["att"])
    sel = sel.assign(event_time=sel["period"] - sel["group"])
    sizes = sel.groupby("group")["n_areas"].max()
    sel = sel.assign(weight=sel["group"].map(sizes).astype(float))
    if min_event is not None:
        sel = sel[sel["event_time"] >= min_event]
    if max_event is not None:
        sel = sel[sel["event_time"] <= max_event]
    post = sel[sel["event_time"] >= 0]
    if kind == "simple":
        return float(np.average(post["att"], weights=post["weight"]))
    if kind == "dynamic":
        out = (sel.groupby("event_time")[["att", "weight"]]
               .apply(lambda f: np.average(f["att"], weights=f["weight"]))
               .rename("att").reset_index())
        out.attrs["overall"] = float(out.loc[out["event_time"] >= 0, "att"].mean())
        return out
    if kind == "group":
        out = post.groupby("group")["att"].mean().rename("att").reset_index()
        out.attrs["overall"] = float(np.average(out["att"], weights=out["group"].map(sizes)))
        return out
    if kind == "calendar":
        out = (post.groupby("period")[["att", "weight"]]
               .apply(lambda f: np.average(f["att"], weights=f["weight"]))
               .rename("att").reset_index())
        out.attrs["overall"] = float(out["att"].mean())
        return out
    raise ValueError(f"true_aggregate: kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}")


# --------------------------------------------------------------------------------------------------------------
# Fast area-level version of the same data-generating process (Monte Carlo)
# --------------------------------------------------------------------------------------------------------------

_BAND_WIDTH = np.array([5.0, 6.0, 12.0, 36.0, np.inf])  # months in duration bands [1-5], [6-11], [12-23], [24-59]


def _default_cohort_schedule() -> np.ndarray:
    """First treated period (absolute, 2015-01 = 1) of the 22 Amsterdam areas, order of :data:`AMSTERDAM_AREAS`."""
    return np.array([month_to_period(pd.Timestamp(COHORT_SCHEDULE[code])) for code, *_ in AMSTERDAM_AREAS])


def _rates(counts: dict) -> dict:
    """Rate columns of the panel contract from count arrays (same definitions as :func:`panel.add_rates`)."""
    stock, inflow = counts["stock"].astype(float), counts["inflow"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_stock = np.where(stock > 0, 100.0 / stock, np.nan)
        out = {f"{c}_rate": counts[c] * per_stock
               for c in ("outflow", "outflow_work", "outflow_enforcement", "outflow_other")}
        out["reinflow_12m_share"] = np.where(inflow > 0, 100.0 * counts["reinflow_12m"] / inflow, np.nan)
    return out


_LEAVER_SLOTS = 14  # months since exit 0..12 tracked exactly, slot 13 pools months 13..60


class _AreaModel:
    """Cell model: areas x duration band x exempt, plus leavers by months since exit (slots) and reason.

    Leavers are tracked month by month for 12 months (exact re-inflow within 6 and 12 months); months 13..60 are
    one pool with the person model's re-entry hazard for that stretch, which its members leave with probability
    1/48 a month (the end of the 60-month re-entry window, in expectation).
    """

    # The cell model uses average traits and so misses the dynamic selection of the person model (low-hazard
    # people pile up in the stock); this factor brings its monthly outflow rate to the person model's (~2.1%).
    exit_factor = 0.88

    def __init__(self, baseline: Baseline, effects: Effects, cycle: pd.DataFrame):
        b = baseline
        self.b, self.e = b, effects
        # Average trait multipliers of the person-level model (education mix, refugee share, age ~ 0.85).
        edu = float(np.dot(b.education_shares, b.education_work))
        refugee = 1.0 + b.refugee_share * (b.refugee_work - 1.0)
        age_work, age_other = 0.85, 1.05
        f = self.exit_factor
        work = f * b.base_work * edu * refugee * age_work * np.asarray(b.duration_work)
        enf = f * b.base_enforcement * np.asarray(b.duration_enforcement)
        other = f * b.base_other * age_other * np.asarray(b.duration_other)
        exempt_work = np.array([1.0, b.exempt_work])
        exempt_enf = np.array([1.0, b.exempt_enforcement])
        # hazards[cause] has shape (band, exempt)
        self.h_work = work[:, None] * exempt_work[None, :]
        self.h_enf = enf[:, None] * exempt_enf[None, :]
        self.h_other = np.repeat(other[:, None], 2, axis=1)
        table = _reentry_table(b).astype(np.float64)  # (reason, gap 0..window)
        self.reentry = np.concatenate([table[:, :13], table[:, 13:14]], axis=1).T.copy()  # (slot, reason)
        self.cycle_exit = cycle["exit_multiplier"].to_numpy()
        self.cycle_in = cycle["inflow_multiplier"].to_numpy()
        self.covid_pause = 1.0 - effects.cohort_covid_pause * _first_lockdown(cycle["month"])
        self.periods = cycle["period"].to_numpy()
        # Share of the stock in months 0..k after their invitation (offset uniform on 0..invitation_months-1).
        L = max(1, effects.cohort_invitation_months)
        event = np.arange(-1, 400)
        ramp = np.zeros(len(event))
        nonresponse = np.zeros(len(event))
        for offset in range(L):
            m = event - offset
            ramp += np.where(m >= 0, np.minimum(1.0, (m + 1) / effects.cohort_ramp_months), 0.0) / L
            nonresponse += ((m >= 0) & (m < effects.cohort_nonresponse_months)) / L
        self.ramp = ramp          # indexed by event time + 1
        self.nonresponse = nonresponse

    def effects_over_time(self, group, area_factor):
        """Work multiplier (T, areas, band, exempt) and extra enforcement hazard of the cohort approach."""
        e = self.e
        event = self.periods[:, None] - group[None, :]            # (T, areas)
        treated = (group[None, :] > 0) & (event >= 0)
        idx = np.clip(event + 1, 0, len(self.ramp) - 1)
        ramp = np.where(treated, self.ramp[idx], 0.0) * area_factor[None, :] * self.covid_pause[:, None]
        long_term = np.array([1, 1, 1, 1, e.cohort_long_term_factor], float)
        work_mult = np.ones((len(self.periods), len(group), 5, 2))
        work_mult[..., 0] = 1.0 + (e.cohort_work_multiplier - 1.0) * ramp[..., None] * long_term
        extra_enf = np.zeros_like(work_mult)
        extra_enf[..., 0] = (np.where(treated, self.nonresponse[idx], 0.0) * e.cohort_nonresponse_hazard)[..., None]
        return work_mult, extra_enf

    def run(self, rng, cells, leavers, entrants, group, area_factor, area_mult, n_random=0):
        """Propagate areas; the first ``n_random`` areas get binomial draws, the others expected values.

        Random and expected-value areas share one loop because the cost is the number of numpy calls per month,
        not the array size. ``cells`` (areas, band, exempt) and ``leavers`` (areas, slot, reason) hold the state at
        the start of the first month. A month: (1) the 13..60-month leaver pool ages out at 1/48, (2) exits by
        cause from the stock and re-entries of leavers, (3) survivors move up a duration band, arrivals (new
        entrants + re-entrants) join band 0 with the exemption share, leavers age by one month and this month's
        exits become one-month leavers. Returns count arrays (areas, T).
        """
        T = len(self.periods)
        n = cells.shape[0]
        m = int(n_random)
        # flat, area-major layouts (random areas form a prefix): cell = band * 2 + exempt; leaver = slot * 3 + reason
        cells = cells.reshape(n, 10).astype(float)
        leavers = leavers.reshape(n, _LEAVER_SLOTS * 3).astype(float)
        entrants = entrants.astype(float)

        def draw(count, p, width):
            out = count * p
            if m:
                k = m * width
                out[:k] = rng.binomial(count[:k].astype(np.int64), p[:k])
            return out

        exit_c = self.cycle_exit[:, None, None, None] * area_mult[None, :, None, None]   # (T, areas, 1, 1)
        # areas with group 0 are never treated: their multipliers are exactly 1 and extra hazards exactly 0
        work_mult, extra_enf = self.effects_over_time(group, area_factor)
        hw = np.minimum(self.h_work[None, None] * exit_c * work_mult, 1.0).reshape(T, n, 10)
        he = np.minimum(self.h_enf[None, None] * exit_c + extra_enf, 1.0).reshape(T, n, 10)
        ho = np.minimum(np.broadcast_to(self.h_other[None, None] * exit_c, (T, n, 5, 2)), 1.0).reshape(T, n, 10)
        # Person-model priority (other > enforcement > work) as unconditional cause probabilities; the three
        # causes are then drawn from the same stock in one call (multinomial up to a negligible covariance; the
        # rare excess over the stock is clipped). Means are exact, so expected-value areas are exact.
        p_enf = (1.0 - ho) * he
        p_work = (1.0 - ho) * (1.0 - he) * hw
        # re-entry hazards of slots 2..13 (slots 0 and 1 cannot re-enter: CBS's 30-day rule)
        re = np.minimum(self.reentry[None, 2:, :] * self.cycle_in[:, None, None], 1.0).reshape(T, 1, 36)
        p_first = np.concatenate([p_work, p_enf, ho, np.broadcast_to(re, (T, n, 36))], axis=2).reshape(T, n * 66)
        p_last = np.concatenate([np.broadcast_to(1.0 / _BAND_WIDTH[:4].repeat(2), (n, 8)),
                                 np.full((n, 1), self.b.exempt_share)], axis=1).ravel()
        # per-month results are kept whole and summed after the loop (fewer numpy calls inside it)
        starts = np.empty((T, n))
        exits = np.empty((T, n, 3))            # work, enforcement, other (the leaver reason order)
        backs = np.empty((T, n, 36))
        arrivals_all = np.empty((T, n))
        for k in range(T):
            # (1) pool ageing; stochastic rounding keeps random areas integer without another binomial call
            aged = leavers[:, 39:42] / 48.0
            if m:
                aged[:m] = np.floor(aged[:m] + rng.random((m, 3)))
            leavers[:, 39:42] -= aged
            starts[k] = cells.sum(axis=1)
            # (2) exits by cause and re-entries in one call; clip in priority order other > enforcement > work
            first = draw(np.concatenate([cells, cells, cells, leavers[:, 6:]], axis=1).ravel(), p_first[k],
                         66).reshape(n, 66)
            x = first[:, :30].reshape(n, 3, 10)
            x[:, 1] = np.minimum(x[:, 1], cells - x[:, 2])
            x[:, 0] = np.minimum(x[:, 0], cells - x[:, 2] - x[:, 1])
            survivors = cells - x.sum(axis=1)
            back = first[:, 30:]
            backs[k] = back
            leavers[:, 6:] -= back
            arrivals = entrants[:, k] + back.sum(axis=1)
            arrivals_all[k] = arrivals
            # (3) band moves and the exemption status of arrivals
            last = draw(np.concatenate([survivors[:, :8], arrivals[:, None]], axis=1).ravel(), p_last,
                        9).reshape(n, 9)
            survivors[:, :8] -= last[:, :8]
            survivors[:, 2:] += last[:, :8]
            survivors[:, 0] += arrivals - last[:, 8]
            survivors[:, 1] += last[:, 8]
            cells = survivors
            # leavers age by one month: slot 12 joins the pool, slots 0..11 shift, this month's exits -> slot 1
            leavers[:, 39:42] += leavers[:, 36:39]
            leavers[:, 3:39] = leavers[:, 0:36].copy()
            leavers[:, 0:3] = 0.0
            leavers[:, 3:6] = exits[k] = x.sum(axis=2)
        back_by_slot = backs.reshape(T, n, 12, 3).sum(axis=3)          # slots 2..13
        out = {"stock": (starts + arrivals_all).T, "inflow": arrivals_all.T.copy(),
               "reinflow_6m": back_by_slot[:, :, :5].sum(axis=2).T,      # months since exit 2..6
               "reinflow_12m": back_by_slot[:, :, :11].sum(axis=2).T,    # months since exit 2..12
               "outflow_work": exits[:, :, 0].T.copy(), "outflow_enforcement": exits[:, :, 1].T.copy(),
               "outflow_other": exits[:, :, 2].T.copy()}
        out["outflow"] = out["outflow_work"] + out["outflow_enforcement"] + out["outflow_other"]
        return out


@dataclass(frozen=True)
class _AreaSteadyState:
    cells: np.ndarray      # (band, exempt) per recipient
    leavers: np.ndarray    # (slot, reason) per recipient
    new_entry: float       # new entrants per recipient per month


def _steady_state(model: _AreaModel, months: int = 600) -> _AreaSteadyState:
    """Stationary cell shares for one area of size 1 (expected values, no cycle, no effects).

    New entrants are set to exits minus re-entries at the current state and the model is propagated; three
    rounds reach the fixed point (changes below 1e-6).
    """
    cells = np.zeros((1, 5, 2))
    cells[0, 4, :] = [1 - model.b.exempt_share, model.b.exempt_share]
    leavers = np.zeros((1, _LEAVER_SLOTS, 3))
    hazard = model.h_work + model.h_enf + model.h_other
    for _ in range(3):
        exits = float((cells * hazard[None]).sum())
        new_entry = max(exits - float((leavers * model.reentry[None]).sum()), 1e-6)
        cells, leavers = _end_state(model, cells, leavers, new_entry, months)
        total = cells.sum()
        cells, leavers = cells / total, leavers / total
    exits = float((cells * hazard[None]).sum())
    new_entry = exits - float((leavers * model.reentry[None]).sum())
    return _AreaSteadyState(cells=cells[0], leavers=leavers[0], new_entry=new_entry)


def _end_state(model, cells, leavers, new_entry, months):
    """Expected-value state after ``months`` months without cycle or effects (mirrors :meth:`_AreaModel.run`)."""
    cells = cells.copy()
    leavers = leavers.copy()
    share = model.b.exempt_share
    for _ in range(months):
        leavers[:, 13, :] -= leavers[:, 13, :] / 48.0
        xo = cells * model.h_other[None]
        xe = (cells - xo) * model.h_enf[None]
        xw = (cells - xo - xe) * model.h_work[None]
        back = leavers * model.reentry[None]
        cells = cells - xo - xe - xw
        leavers = leavers - back
        moving = cells[:, :4, :] / _BAND_WIDTH[None, :4, None]
        cells[:, :4, :] -= moving
        cells[:, 1:, :] += moving
        arrivals = new_entry + back.sum()
        cells[:, 0, 0] += arrivals * (1 - share)
        cells[:, 0, 1] += arrivals * share
        leavers[:, 13, :] += leavers[:, 12, :]
        leavers[:, 1:13, :] = leavers[:, 0:12, :].copy()
        leavers[:, 0, :] = 0.0
        leavers[:, 1, :] = [xw.sum(), xe.sum(), xo.sum()]
    return cells, leavers


_AREA_CACHE: dict = {}


def simulate_area_panel(*, seed: int, n_areas: int = 22, n_periods: int = 120, schedule=None,
                        effects: Effects | None = None, baseline: Baseline | None = None, area_size: int = 1500,
                        start: str = "2015-01") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Area-level version of the register's data-generating process for Monte Carlo (no person records).

    Each area is a set of cells (duration band x exempt) plus leavers by months since exit and reason. Every month
    exits by cause are binomial draws with the person model's hazards at average traits (competing risks in the
    same priority order), survivors move up a duration band with probability 1/band width, leavers re-enter with
    the same re-entry hazards, and new entrants are Poisson with the same business cycle and COVID shock. The
    intervention is the cohort approach of :class:`Effects` (work multiplier with ramp over the invitation
    year, long-term factor, COVID pause, non-response enforcement, area heterogeneity).

    The truth is the *expected* effect given the areas' draws (sizes, area effects, heterogeneity): the same cell
    model propagated in expected values with and without the intervention,
    :math:`\\text{ATT}(g,t) = |A_g|^{-1}\\sum_{a\\in A_g} (E Y_{at}(1) - E Y_{at}(0))`, for rates the ratio of the
    expected counts. It is exactly zero before :math:`g`.

    Parameters
    ----------
    seed : int
    n_areas : int
        Number of areas (default 22, Amsterdam's cohort areas).
    n_periods : int
        Months from ``start``.
    schedule : array-like of int, optional
        First treated period per area (absolute period, 2015-01 = 1; 0 = never). Default: the Amsterdam schedule
        (:data:`COHORT_SCHEDULE`) when ``n_areas == 22``, else areas spread evenly over 2019-09 .. 2020-11 with
        the last quarter never treated.
    effects, baseline : optional
        As in :func:`simulate_register`.
    area_size : int
        Mean recipients per area (sizes vary by +-30%).

    Returns
    -------
    (panel, truth) : tuple of DataFrame
        The panel has the contract columns (municipality ``"SIM"``, areas ``A01``...); the truth the contract
        columns with intervention ``"cohort"``.
    """
    effects = Effects() if effects is None else effects
    baseline = Baseline() if baseline is None else baseline
    start_ts = pd.Timestamp(start)
    end_ts = start_ts + pd.DateOffset(months=n_periods - 1)
    key = (baseline, effects, str(start_ts), n_periods)
    if key not in _AREA_CACHE:
        cycle = business_cycle(start_ts, end_ts, elasticity=baseline.cycle_elasticity,
                               covid_inflow_multiplier=baseline.covid_inflow_multiplier,
                               covid_exit_multiplier=baseline.covid_exit_multiplier,
                               covid_decay_months=baseline.covid_decay_months)
        model = _AreaModel(baseline, effects, cycle)
        _AREA_CACHE.clear()
        _AREA_CACHE[key] = (model, _steady_state(model))
    model, steady = _AREA_CACHE[key]
    if schedule is None:
        if n_areas == 22:
            group = _default_cohort_schedule()
        else:
            first, last = month_to_period(pd.Timestamp("2019-09")), month_to_period(pd.Timestamp("2020-11"))
            n_treated = n_areas - n_areas // 4
            group = np.zeros(n_areas, np.int64)
            group[:n_treated] = np.round(np.linspace(first, last, n_treated)).astype(np.int64)
    else:
        group = np.asarray(schedule, dtype=np.int64)
        if group.shape != (n_areas,):
            raise ValueError(f"simulate_area_panel: schedule must have one period per area ({n_areas}), "
                             f"got shape {group.shape}")
    rng = np.random.default_rng(seed)
    sizes = np.round(area_size * rng.uniform(0.7, 1.3, n_areas))
    area_mult = np.exp(rng.normal(0.0, baseline.area_effect_sd, n_areas))
    h = effects.cohort_area_heterogeneity
    area_factor = rng.uniform(1.0 - h, 1.0 + h, n_areas)
    cells = rng.poisson(sizes[:, None, None] * steady.cells[None]).astype(float)
    leavers = rng.poisson(sizes[:, None, None] * steady.leavers[None] * area_mult[:, None, None]).astype(float)
    lam = sizes * steady.new_entry * area_mult
    entrants = rng.poisson(lam[:, None] * model.cycle_in[None, :]).astype(float)
    # One pass: the random world, then the expected-value worlds with and without the intervention.
    thrice = lambda a: np.concatenate([a, a, a])  # noqa: E731
    never = np.zeros_like(group)
    both = model.run(rng, thrice(cells), thrice(leavers),
                     np.concatenate([entrants, lam[:, None] * model.cycle_in[None, :],
                                     lam[:, None] * model.cycle_in[None, :]]),
                     np.concatenate([group, group, never]), thrice(area_factor), thrice(area_mult),
                     n_random=n_areas)
    counts = {k: v[:n_areas] for k, v in both.items()}
    expected = {True: {k: v[n_areas:2 * n_areas] for k, v in both.items()},
                False: {k: v[2 * n_areas:] for k, v in both.items()}}

    periods = model.periods
    names = np.array([f"A{a + 1:02d}" for a in range(n_areas)], dtype=object)
    # Built with numpy rather than pandas groupby: pandas overhead alone was ~40 ms per call.
    counts = {k: np.rint(v).astype(np.int64) for k, v in counts.items()}
    columns = {"municipality": np.full(n_areas * n_periods, "SIM", dtype=object),
               "area": np.repeat(names, n_periods),
               "month": np.tile(period_to_month(periods), n_areas),
               "period": np.tile(periods.astype(np.int64), n_areas)}
    columns.update({c: counts[c].reshape(-1) for c in COUNT_COLUMNS})
    columns.update({k: v.reshape(-1) for k, v in _rates(counts).items()})
    columns["first_treat_cohort"] = np.repeat(group, n_periods)
    columns["first_treat_counter"] = np.zeros(n_areas * n_periods, np.int64)
    columns["first_treat_outreach"] = np.zeros(n_areas * n_periods, np.int64)
    panel = pd.DataFrame({c: columns[c] for c in PANEL_COLUMNS})

    treated, untreated = _rates(expected[True]), _rates(expected[False])
    treated["stock"], untreated["stock"] = expected[True]["stock"], expected[False]["stock"]
    groups = np.unique(group[group > 0])
    membership = (group[None, :] == groups[:, None]).astype(float)      # (groups, areas)
    n_in_group = membership.sum(axis=1)
    rows = []
    for outcome in TRUTH_OUTCOMES:
        att = membership @ (treated[outcome] - untreated[outcome]) / n_in_group[:, None]   # (groups, T)
        rows.append(pd.DataFrame({"intervention": "cohort", "outcome": outcome,
                                  "group": np.repeat(groups, n_periods), "period": np.tile(periods, len(groups)),
                                  "att": att.reshape(-1), "n_areas": np.repeat(n_in_group.astype(np.int64),
                                                                               n_periods)}))
    truth = pd.concat(rows, ignore_index=True)
    return panel, truth
