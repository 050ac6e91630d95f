"""Duration models for exits from social assistance and re-inflow after exit.

The register answers two duration questions that the area-month panel averages away:

* **time to exit** -- months on benefit until the spell ends, with the exit reason as a competing risk
  (``"work"``, ``"enforcement"``, ``"other"``); spells still running at the end of the window are right-censored;
* **time to re-inflow** -- months from the last month of a spell (``spell_end``) to the person's next
  ``spell_start``; exits without a later spell are right-censored at the end of the window. Re-inflow within
  :math:`t` months is :math:`1 - S(t)`, the "revolving door" share the critics in the domain brief ask about.

Time is discrete (months). A spell that starts and ends in the same month has duration 1; a person whose next
spell starts in the month after ``spell_end`` has re-inflow duration 1. Everywhere in this module a duration
:math:`T = t` with ``event=False`` means "observed through month :math:`t` without the event", so censorings at
:math:`t` are at risk at :math:`t` (the usual Kaplan--Meier convention).

Functions
---------
:func:`exits_to_durations`
    person spells (data contract) -> exit and re-inflow duration frames.
:func:`kaplan_meier`
    Kaplan--Meier survival with confidence intervals at chosen months, by group (lifelines).
:func:`cumulative_incidence`
    Aalen--Johansen cumulative incidence of one exit reason among competing reasons (lifelines, ties handled).
:func:`hazard_model`
    Cox proportional hazards (lifelines) or discrete-time logit hazard (hand-written IRLS, see its docstring).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

#: Exit reasons in the spell contract, with the integer codes used for competing-risk estimators (0 = censored).
EXIT_REASON_CODES: dict[str, int] = {"work": 1, "enforcement": 2, "other": 3}

#: Columns :func:`exits_to_durations` needs in the spell file.
SPELL_COLUMNS: tuple[str, ...] = (
    "person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason",
    "birth_year", "education", "refugee", "exempt",
)

_COVARIATE_COLUMNS = ("education", "refugee", "exempt", "municipality", "area")


class SpellDurations(NamedTuple):
    """The two duration frames built by :func:`exits_to_durations`.

    Attributes
    ----------
    exits
        One row per spell: ``person_id``, ``spell_number`` (1, 2, ... within person, by start),
        ``municipality``, ``area``, ``spell_start``, ``spell_end``, ``duration`` (months on benefit, >= 1),
        ``event`` (True if the spell ended inside the window), ``exit_reason`` (None if censored),
        ``exit_code`` (0 censored, 1 work, 2 enforcement, 3 other), ``age`` (age in years at spell start),
        ``education``, ``refugee``, ``exempt``.
    reinflow
        One row per ended spell: ``person_id``, ``spell_number`` of the spell that ended, ``municipality``,
        ``area``, ``spell_end``, ``exit_reason``, ``next_spell_start`` (NaT if none in the window),
        ``duration`` (months from ``spell_end`` to ``next_spell_start``, or to ``window_end`` if censored; >= 0),
        ``event`` (True if the person came back inside the window), ``age`` (age in years at exit),
        ``education``, ``refugee``, ``exempt``.
    """

    exits: pd.DataFrame
    reinflow: pd.DataFrame


# ----------------------------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------------------------

def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")


def _month_index(values: pd.Series | pd.Timestamp) -> pd.Series | int:
    """Months since year 0 (``year * 12 + month - 1``), so differences are whole months; NaT -> NaN."""
    if isinstance(values, pd.Timestamp):
        return values.year * 12 + values.month - 1
    return values.dt.year * 12 + values.dt.month - 1


def _check_durations(frame: pd.DataFrame, duration_col: str, event_col: str | None) -> None:
    """Durations must be present, finite and non-negative; events 0/1 (bool) when ``event_col`` is a flag."""
    cols = [duration_col] + ([event_col] if event_col is not None else [])
    _require_columns(frame, cols, "durations")
    duration = pd.to_numeric(frame[duration_col], errors="coerce")
    if duration.isna().any() or not np.isfinite(duration.to_numpy(dtype=float)).all():
        rows = list(frame.index[duration.isna() | ~np.isfinite(duration.to_numpy(dtype=float))][:5])
        raise ValueError(f"column {duration_col!r} has missing or non-numeric durations (rows {rows})")
    if (duration < 0).any():
        rows = list(frame.index[duration < 0][:5])
        raise ValueError(f"column {duration_col!r} has negative durations (rows {rows})")


def _event_flag(frame: pd.DataFrame, event_col: str) -> np.ndarray:
    """Return ``event_col`` as a 0/1 array; raise naming the column if it is not boolean-like."""
    values = frame[event_col]
    if values.isna().any():
        raise ValueError(f"column {event_col!r} has missing values; use False for censored observations")
    arr = values.to_numpy()
    if arr.dtype == bool:
        return arr.astype(int)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or not numeric.isin([0, 1]).all():
        raise ValueError(f"column {event_col!r} must be boolean (or 0/1); found {sorted(map(str, values.unique()))[:5]}")
    return numeric.to_numpy(dtype=int)


# ----------------------------------------------------------------------------------------------------------------
# Spells -> durations
# ----------------------------------------------------------------------------------------------------------------

def exits_to_durations(spells: pd.DataFrame, *, window_end: str | pd.Timestamp) -> SpellDurations:
    """Build time-to-exit and time-to-re-inflow frames from person spells.

    Parameters
    ----------
    spells
        Person-spell file with the contract columns (:data:`SPELL_COLUMNS`).
    window_end
        Last observed month (e.g. ``"2024-12"``); running spells and exits without a later spell are
        right-censored here.

    Returns
    -------
    SpellDurations
        ``exits`` and ``reinflow`` frames (columns documented on :class:`SpellDurations`).

    Notes
    -----
    For spell :math:`i` of a person, with months counted as integers,

    .. math::

        T^{exit}_i = \\min(\\text{end}_i, \\text{window\\_end}) - \\text{start}_i + 1, \\qquad
        T^{re}_i = \\min(\\text{start}_{i+1}, \\text{window\\_end}) - \\text{end}_i,

    with :math:`\\delta^{re}_i = 1` iff a next spell starts inside the window. Re-inflow "within 12 months" is
    therefore :math:`T^{re} \\le 12` with :math:`\\delta^{re} = 1`, matching ``reinflow_12m`` in the panel.

    Raises
    ------
    ValueError
        Naming the column: missing columns, missing ``spell_start``, ``spell_end`` before ``spell_start`` or after
        ``window_end``, an unknown ``exit_reason``, an exit reason on a running spell or none on an ended one,
        or overlapping spells of one person (``spell_start``).
    """
    _require_columns(spells, SPELL_COLUMNS, "spells")
    end_ts = pd.Timestamp(window_end)
    window_month = _month_index(end_ts)

    frame = spells.loc[:, list(SPELL_COLUMNS)].copy()
    for col in ("spell_start", "spell_end"):
        try:
            frame[col] = pd.to_datetime(frame[col])
        except (TypeError, ValueError) as err:
            raise ValueError(f"column {col!r} cannot be read as dates: {err}") from err
    if frame["spell_start"].isna().any():
        rows = list(frame.index[frame["spell_start"].isna()][:5])
        raise ValueError(f"column 'spell_start' has missing values (rows {rows})")

    start_m = _month_index(frame["spell_start"])
    end_m = _month_index(frame["spell_end"])  # NaN where running
    ended = frame["spell_end"].notna()

    bad = ended & (end_m < start_m)
    if bad.any():
        raise ValueError(f"column 'spell_end' is before 'spell_start' (rows {list(frame.index[bad][:5])})")
    bad = ended & (end_m > window_month)
    if bad.any():
        raise ValueError(f"column 'spell_end' is after window_end {end_ts:%Y-%m} (rows {list(frame.index[bad][:5])})")
    bad = start_m > window_month
    if bad.any():
        raise ValueError(
            f"column 'spell_start' is after window_end {end_ts:%Y-%m} (rows {list(frame.index[bad][:5])})"
        )
    reason_missing = frame["exit_reason"].isna()
    bad = ended & reason_missing
    if bad.any():
        raise ValueError(f"column 'exit_reason' is missing for ended spells (rows {list(frame.index[bad][:5])})")
    bad = ~ended & ~reason_missing
    if bad.any():
        raise ValueError(
            f"column 'exit_reason' is set for running spells (spell_end NaT) (rows {list(frame.index[bad][:5])})"
        )
    unknown = ended & ~frame["exit_reason"].isin(list(EXIT_REASON_CODES))
    if unknown.any():
        found = sorted(frame.loc[unknown, "exit_reason"].astype(str).unique())
        raise ValueError(f"column 'exit_reason' has unknown values {found}; allowed {list(EXIT_REASON_CODES)}")

    frame["_start_m"] = start_m
    frame["_end_m"] = end_m
    frame = frame.sort_values(["person_id", "_start_m"], kind="mergesort").reset_index(drop=True)
    frame["spell_number"] = frame.groupby("person_id").cumcount() + 1

    # Next spell of the same person; a running spell followed by another one is an overlap too.
    same_person_next = frame["person_id"].eq(frame["person_id"].shift(-1))
    next_start_m = frame["_start_m"].shift(-1).where(same_person_next)
    overlap = same_person_next & (frame["_end_m"].isna() | (next_start_m <= frame["_end_m"]))
    if overlap.any():
        persons = sorted(frame.loc[overlap, "person_id"].unique().tolist())[:5]
        raise ValueError(f"column 'spell_start': spells of the same person overlap (person_id {persons})")

    covariates = frame[list(_COVARIATE_COLUMNS)]
    exits = pd.DataFrame({
        "person_id": frame["person_id"],
        "spell_number": frame["spell_number"].astype("int64"),
        "municipality": frame["municipality"],
        "area": frame["area"],
        "spell_start": frame["spell_start"],
        "spell_end": frame["spell_end"],
        "duration": (frame["_end_m"].fillna(window_month) - frame["_start_m"] + 1).astype("int64"),
        "event": ended.to_numpy(),
        "exit_reason": frame["exit_reason"].where(ended, None),
        "exit_code": frame["exit_reason"].map(EXIT_REASON_CODES).fillna(0).astype("int64"),
        "age": (frame["spell_start"].dt.year - frame["birth_year"]).astype("int64"),
        "education": covariates["education"],
        "refugee": covariates["refugee"].astype(bool),
        "exempt": covariates["exempt"].astype(bool),
    })

    ended_rows = frame.loc[ended.to_numpy()].copy()
    ended_next = next_start_m.loc[ended_rows.index]
    returned = ended_next.notna()
    reinflow = pd.DataFrame({
        "person_id": ended_rows["person_id"],
        "spell_number": ended_rows["spell_number"].astype("int64"),
        "municipality": ended_rows["municipality"],
        "area": ended_rows["area"],
        "spell_end": ended_rows["spell_end"],
        "exit_reason": ended_rows["exit_reason"],
        "next_spell_start": frame["spell_start"].shift(-1).loc[ended_rows.index].where(returned),
        "duration": (ended_next.fillna(window_month) - ended_rows["_end_m"]).astype("int64"),
        "event": returned.to_numpy(),
        "age": (ended_rows["spell_end"].dt.year - ended_rows["birth_year"]).astype("int64"),
        "education": ended_rows["education"],
        "refugee": ended_rows["refugee"].astype(bool),
        "exempt": ended_rows["exempt"].astype(bool),
    }).reset_index(drop=True)
    return SpellDurations(exits=exits, reinflow=reinflow)


# ----------------------------------------------------------------------------------------------------------------
# Non-parametric curves
# ----------------------------------------------------------------------------------------------------------------

def _groups(frame: pd.DataFrame, by: str | Sequence[str] | None):
    """Yield ``(label, {by_col: value}, subframe)``; label ``"all"`` without ``by``."""
    if by is None:
        yield "all", {}, frame
        return
    by_cols = [by] if isinstance(by, str) else list(by)
    _require_columns(frame, by_cols, "durations")
    for key, sub in frame.groupby(by_cols, sort=True, observed=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield " / ".join(str(k) for k in key), dict(zip(by_cols, key, strict=True)), sub


def _step_lookup(index: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Right-continuous step function through ``(index, values)`` evaluated at ``times`` (index sorted, starts <= 0)."""
    pos = np.searchsorted(index, times, side="right") - 1
    return values[np.clip(pos, 0, None)]


def _eval_times(durations: np.ndarray, times: Sequence[float] | None) -> np.ndarray:
    if times is not None:
        out = np.asarray(sorted(set(float(t) for t in times)), dtype=float)
        if (out < 0).any():
            raise ValueError(f"times must be non-negative, got {list(times)}")
        return out
    if np.allclose(durations, np.round(durations)):
        return np.arange(0, int(durations.max()) + 1, dtype=float)
    return np.unique(np.concatenate([[0.0], durations]))


def kaplan_meier(
    durations: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    times: Sequence[float] | None = (6, 12, 24),
    duration_col: str = "duration",
    event_col: str = "event",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan--Meier survival at given months, by group, via :class:`lifelines.KaplanMeierFitter`.

    .. math::

        \\hat S(t) = \\prod_{t_j \\le t} \\left(1 - \\frac{d_j}{n_j}\\right)

    with :math:`d_j` events and :math:`n_j` at risk (duration :math:`\\ge t_j`) at event time :math:`t_j`.
    For re-inflow durations, :math:`1 - \\hat S(t)` is the probability of having come back within :math:`t` months.
    Confidence intervals are lifelines' exponential Greenwood ("log-log") intervals.

    Parameters
    ----------
    durations
        Frame with ``duration_col`` (>= 0) and boolean ``event_col``, e.g. ``exits_to_durations(...).reinflow``.
    by
        Column(s) defining groups; ``None`` for one group labelled ``"all"``.
    times
        Months at which to report; ``None`` for every month from 0 to the longest duration (for plotting).
    duration_col, event_col
        Column names.
    alpha
        One minus the confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per group and time: ``group``, the ``by`` columns, ``time``, ``survival``, ``ci_lower``,
        ``ci_upper``, ``at_risk`` (durations >= time), ``events`` (events at or before time), ``n`` (group size).
        ``survival`` and its interval are NaN beyond the longest duration in the group (not identified).
    """
    from lifelines import KaplanMeierFitter

    _check_durations(durations, duration_col, event_col)
    rows = []
    for label, by_values, sub in _groups(durations, by):
        d = sub[duration_col].to_numpy(dtype=float)
        e = _event_flag(sub, event_col)
        fitter = KaplanMeierFitter(alpha=alpha).fit(d, event_observed=e)
        timeline = fitter.survival_function_.index.to_numpy(dtype=float)
        surv = fitter.survival_function_.iloc[:, 0].to_numpy()
        ci = fitter.confidence_interval_.to_numpy()
        t_eval = _eval_times(d, times)
        beyond = t_eval > d.max()
        survival = np.where(beyond, np.nan, _step_lookup(timeline, surv, t_eval))
        lower = np.where(beyond, np.nan, _step_lookup(timeline, ci[:, 0], t_eval))
        upper = np.where(beyond, np.nan, _step_lookup(timeline, ci[:, 1], t_eval))
        at_risk = (d[None, :] >= t_eval[:, None]).sum(axis=1)
        events = ((d[None, :] <= t_eval[:, None]) & (e[None, :] == 1)).sum(axis=1)
        for i, t in enumerate(t_eval):
            rows.append({"group": label, **by_values, "time": t, "survival": survival[i], "ci_lower": lower[i],
                         "ci_upper": upper[i], "at_risk": int(at_risk[i]), "events": int(events[i]),
                         "n": len(sub)})
    return pd.DataFrame(rows)


def cumulative_incidence(
    durations: pd.DataFrame,
    *,
    event_col: str,
    event_of_interest: str | int,
    by: str | Sequence[str] | None = None,
    times: Sequence[float] | None = (6, 12, 24),
    duration_col: str = "duration",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Aalen--Johansen cumulative incidence of one cause among competing causes (e.g. exit to work vs. other).

    .. math::

        \\hat F_k(t) = \\sum_{t_j \\le t} \\hat S(t_j^-)\\, \\frac{d_{kj}}{n_j},

    where :math:`\\hat S` is the all-cause Kaplan--Meier survival, :math:`d_{kj}` the exits by cause :math:`k` at
    :math:`t_j` and :math:`n_j` the number at risk. :math:`\\hat F_k(t)` estimates
    :math:`P(T \\le t, \\text{cause} = k)` under independent censoring; unlike :math:`1 - \\text{KM}` with the
    other causes treated as censored, it does not overstate the incidence. The causes' :math:`\\hat F_k` add up to
    :math:`1 - \\hat S`.

    Parameters
    ----------
    durations
        Frame with ``duration_col`` and ``event_col`` holding the cause label (e.g. ``exit_reason``);
        a missing label means censored.
    event_col
        Column with the cause labels.
    event_of_interest
        Cause whose cumulative incidence is returned, e.g. ``"work"``; every other non-missing label competes.
    by, times, duration_col, alpha
        As in :func:`kaplan_meier`.

    Returns
    -------
    pandas.DataFrame
        ``group``, the ``by`` columns, ``event`` (the cause), ``time``, ``cumulative_incidence``, ``ci_lower``,
        ``ci_upper``, ``at_risk``, ``events`` (cause-``k`` events at or before time), ``n``.

    Notes
    -----
    Uses :class:`lifelines.AalenJohansenFitter`, but not on the raw monthly durations: lifelines calls
    ``np.random.seed`` and jitters tied event times by +-1e-4, which (a) changes global random state, (b) moves
    about half the events of month :math:`t` past :math:`t` so estimates at whole months are biased downward,
    and (c) puts censorings at :math:`t` before events jittered to :math:`t+\\epsilon`. Monthly data are full of
    ties, so we break them deterministically instead: an event of cause code :math:`c` at :math:`t` is moved to
    :math:`t - c \\cdot 10^{-6}` (still after month :math:`t-1`, before censorings at :math:`t`). Because the
    product-limit telescopes over events that share an at-risk set, this reproduces the tied-time estimator
    exactly (checked in the tests against :math:`\\sum_k \\hat F_k = 1 - \\hat S`); the variance is lifelines'
    delta-method (Collett) formula on the split times. lifelines labels its two interval columns the wrong way
    round in 0.30 (the "upper" column is the lower bound), so bounds are taken as row-wise min / max.
    """
    from lifelines import AalenJohansenFitter

    _check_durations(durations, duration_col, None)
    _require_columns(durations, [event_col], "durations")
    labels = durations[event_col]
    causes = sorted(labels.dropna().unique().tolist(), key=str)
    if event_of_interest not in causes:
        raise ValueError(
            f"event_of_interest {event_of_interest!r} does not occur in column {event_col!r} (found {causes})"
        )
    codes_of = {cause: i + 1 for i, cause in enumerate(causes)}
    code_of_interest = codes_of[event_of_interest]
    tie_step = 1e-6

    rows = []
    for label, by_values, sub in _groups(durations, by):
        d = sub[duration_col].to_numpy(dtype=float)
        code = sub[event_col].map(codes_of).fillna(0).to_numpy(dtype=int)
        t_eval = _eval_times(d, times)
        beyond = t_eval > d.max()
        at_risk = (d[None, :] >= t_eval[:, None]).sum(axis=1)
        events = ((d[None, :] <= t_eval[:, None]) & (code[None, :] == code_of_interest)).sum(axis=1)
        if (code == code_of_interest).any():
            split = d - tie_step * code  # censored (code 0) stay at t
            fitter = AalenJohansenFitter(alpha=alpha, calculate_variance=True)
            with warnings.catch_warnings():
                # The tie warning cannot fire after the split; anything else lifelines says is kept.
                warnings.filterwarnings("ignore", message="Tied event times", category=Warning)
                fitter.fit(split, code, event_of_interest=code_of_interest)
            index = fitter.cumulative_density_.index.to_numpy(dtype=float)
            cif = fitter.cumulative_density_.iloc[:, 0].to_numpy()
            ci = fitter.confidence_interval_.to_numpy()
            ci_low, ci_high = np.fmin(ci[:, 0], ci[:, 1]), np.fmax(ci[:, 0], ci[:, 1])
            estimate = _step_lookup(index, cif, t_eval)
            lower = _step_lookup(index, ci_low, t_eval)
            upper = _step_lookup(index, ci_high, t_eval)
        else:
            estimate = np.zeros_like(t_eval)
            lower = np.zeros_like(t_eval)
            upper = np.zeros_like(t_eval)
        # Before the first event lifelines' log-log interval is undefined (NaN); the estimate is exactly 0 there.
        lower = np.where(beyond, np.nan, np.where(estimate == 0, 0.0, lower))
        upper = np.where(beyond, np.nan, np.where(estimate == 0, 0.0, upper))
        estimate = np.where(beyond, np.nan, estimate)
        for i, t in enumerate(t_eval):
            rows.append({"group": label, **by_values, "event": event_of_interest, "time": t,
                         "cumulative_incidence": estimate[i], "ci_lower": lower[i], "ci_upper": upper[i],
                         "at_risk": int(at_risk[i]), "events": int(events[i]), "n": len(sub)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------------
# Hazard regressions
# ----------------------------------------------------------------------------------------------------------------

def _design_matrix(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric design matrix: booleans as 0/1, numbers as float, text/categories as treatment dummies.

    The reference level of a categorical covariate is its first category (pandas Categorical order) or, for
    text, the first in sorted order; dummies are named ``"column[level]"``.
    """
    _require_columns(frame, covariates, "durations")
    parts = []
    for col in covariates:
        values = frame[col]
        if values.isna().any():
            raise ValueError(f"covariate column {col!r} has missing values (rows {list(frame.index[values.isna()][:5])})")
        if pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(col))
        elif pd.api.types.is_numeric_dtype(values):
            parts.append(values.astype(float).rename(col))
        else:
            cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype(
                pd.CategoricalDtype(sorted(values.unique(), key=str)))
            levels = list(cat.cat.categories)
            if len(levels) < 2:
                raise ValueError(f"covariate column {col!r} has a single level {levels}; it cannot be estimated")
            for level in levels[1:]:
                parts.append((cat == level).astype(float).rename(f"{col}[{level}]"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def _coefficient_table(terms, coef, se, *, alpha: float, ratio_name: str, model: str) -> pd.DataFrame:
    z_crit = stats.norm.ppf(1 - alpha / 2)
    coef = np.asarray(coef, dtype=float)
    se = np.asarray(se, dtype=float)
    z = coef / se
    table = pd.DataFrame({
        "term": list(terms), "coef": coef, "se": se, "z": z, "p_value": 2 * stats.norm.sf(np.abs(z)),
        "ci_lower": coef - z_crit * se, "ci_upper": coef + z_crit * se,
    })
    table["ratio"] = np.exp(table["coef"])
    table["ratio_ci_lower"] = np.exp(table["ci_lower"])
    table["ratio_ci_upper"] = np.exp(table["ci_upper"])
    table["ratio_name"] = ratio_name
    table["model"] = model
    return table


def _cox_cluster_sandwich(X: np.ndarray, duration: np.ndarray, event: np.ndarray, beta: np.ndarray,
                          bread: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    r"""Cluster-robust (Lin--Wei) variance of Cox coefficients, vectorised.

    With risk scores :math:`r_i = \exp(x_i'\beta)`, risk-set sums :math:`S_0(t) = \sum_{t_k \ge t} r_k`,
    :math:`\bar x(t) = \sum_{t_k \ge t} r_k x_k / S_0(t)` and :math:`d_j` events at event time :math:`t_j`,
    the score residual of observation :math:`i` is (Breslow form, as lifelines uses)

    .. math::

        L_i = \delta_i\,(x_i - \bar x(t_i)) - r_i \sum_{t_j \le t_i} \frac{d_j}{S_0(t_j)}\,(x_i - \bar x(t_j)),

    and :math:`V = B \big(\sum_g L_g L_g'\big) B` with :math:`L_g = \sum_{i \in g} L_i` and :math:`B` the
    model-based variance -- lifelines' estimator (no small-sample factor), but with cumulative sums over the
    distinct times instead of a loop over observations.
    """
    centred = X - X.mean(axis=0)  # r_i up to a constant factor, which cancels in L_i; avoids overflow
    risk = np.exp(centred @ beta)
    times, position = np.unique(duration, return_inverse=True)
    n_times = times.size
    risk_at = np.bincount(position, weights=risk, minlength=n_times)
    risk_x_at = np.column_stack([np.bincount(position, weights=risk * X[:, j], minlength=n_times)
                                 for j in range(X.shape[1])])
    s0 = risk_at[::-1].cumsum()[::-1]  # risk set: durations >= t
    s1 = risk_x_at[::-1].cumsum(axis=0)[::-1]
    x_bar = s1 / s0[:, None]
    events_at = np.bincount(position, weights=event, minlength=n_times)
    a = np.cumsum(events_at / s0)
    b = np.cumsum(events_at[:, None] * x_bar / s0[:, None], axis=0)
    residual = (event[:, None] * (X - x_bar[position])
                - risk[:, None] * (X * a[position][:, None] - b[position]))
    cluster_ids = pd.factorize(cluster)[0]
    summed = np.zeros((cluster_ids.max() + 1, X.shape[1]))
    np.add.at(summed, cluster_ids, residual)
    return bread @ (summed.T @ summed) @ bread


def _interval_bounds(baseline_breaks: Sequence[int] | None, max_duration: int) -> list[tuple[int, int]]:
    """Intervals ``[lo, hi]`` of months with a constant baseline hazard; the last one is open-ended."""
    if baseline_breaks is None:
        return [(t, t) for t in range(1, max_duration)] + [(max_duration, np.iinfo(np.int64).max)]
    breaks = sorted(set(int(b) for b in baseline_breaks))
    if breaks and breaks[0] < 1:
        raise ValueError(f"baseline_breaks must be >= 1, got {list(baseline_breaks)}")
    bounds, lo = [], 1
    for b in breaks:
        if b >= lo:
            bounds.append((lo, b))
            lo = b + 1
    bounds.append((lo, np.iinfo(np.int64).max))
    return bounds


def _interval_name(lo: int, hi: int) -> str:
    if hi == np.iinfo(np.int64).max:
        return f"baseline[{lo}+]"
    return f"baseline[{lo}]" if lo == hi else f"baseline[{lo}-{hi}]"


def _binomial_logit_irls(X: np.ndarray, successes: np.ndarray, trials: np.ndarray, *, max_iter: int = 50,
                         tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logit for grouped binomial data by Newton--Raphson (= IRLS for the canonical link).

    Returns the coefficients and the observed information matrix :math:`X' W X`, :math:`W = n p (1-p)`.
    """
    # Start from the coefficients that give every cell the pooled log-odds: monthly hazards are small, and
    # starting at beta = 0 (p = 0.5) would cost several extra Newton steps.
    pooled = np.clip(successes.sum() / trials.sum(), 1e-6, 1 - 1e-6)
    beta = np.linalg.lstsq(X, np.full(X.shape[0], np.log(pooled / (1 - pooled))), rcond=None)[0]
    for _ in range(max_iter):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        weight = trials * p * (1 - p)
        score = X.T @ (successes - trials * p)
        info = X.T @ (X * weight[:, None])
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError as err:
            raise ValueError("discrete-time hazard: information matrix is singular (collinear covariates or "
                             "a covariate level without events)") from err
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    else:
        raise ValueError("discrete-time hazard: Newton-Raphson did not converge (separation?)")
    eta = X @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    info = X.T @ (X * (trials * p * (1 - p))[:, None])
    return beta, info


def hazard_model(
    durations: pd.DataFrame,
    *,
    covariates: Sequence[str],
    kind: Literal["cox", "discrete"] = "cox",
    duration_col: str = "duration",
    event_col: str = "event",
    event_of_interest: str | None = None,
    cluster_col: str | None = None,
    baseline_breaks: Sequence[int] | None = (3, 6, 12, 24, 48),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Hazard regression of exit (or re-inflow) on covariates; returns a coefficient table.

    ``kind="cox"`` -- Cox proportional hazards, :math:`h(t \\mid x) = h_0(t) \\exp(x'\\beta)`, fitted by
    :class:`lifelines.CoxPHFitter` (Efron ties). With ``cluster_col`` the variance is the cluster-robust
    (Lin--Wei) sandwich, e.g. clustered on ``area`` or ``person_id``: lifelines' estimator, recomputed in
    O(n log n) by :func:`_cox_cluster_sandwich` because lifelines' own loop is O(n^2).

    ``kind="discrete"`` -- discrete-time logit hazard on person-months,

    .. math::

        \\operatorname{logit} P(T = t \\mid T \\ge t, x) = \\alpha_{k(t)} + x'\\gamma,

    with a baseline :math:`\\alpha` constant within the intervals set by ``baseline_breaks`` (default months 1--3,
    4--6, 7--12, 13--24, 25--48, 49+; ``None`` gives one baseline per month). :math:`\\exp(\\gamma)` are odds
    ratios of the monthly exit probability.

    Parameters
    ----------
    durations
        Duration frame, e.g. ``exits_to_durations(...).exits``; durations must be whole months for ``"discrete"``.
    covariates
        Covariate columns. Booleans enter as 0/1, numbers as they are, text/categorical columns as treatment
        dummies named ``"col[level]"`` against the first (sorted) level.
    kind
        ``"cox"`` or ``"discrete"``.
    duration_col, event_col
        Duration column, and the event column: a boolean flag, or -- with ``event_of_interest`` -- a cause label.
    event_of_interest
        For a cause-specific hazard: the event is ``event_col == event_of_interest`` and other causes are
        treated as censored (e.g. ``event_col="exit_reason", event_of_interest="work"``).
    cluster_col
        Column identifying clusters for a cluster-robust (sandwich) variance; ``None`` for model-based.
    baseline_breaks
        Upper ends of the baseline intervals for ``"discrete"``; ignored for ``"cox"``.
    alpha
        One minus the confidence level.

    Returns
    -------
    pandas.DataFrame
        ``term``, ``coef`` (log hazard / log odds ratio), ``se``, ``z``, ``p_value``, ``ci_lower``, ``ci_upper``,
        ``ratio`` (hazard or odds ratio), ``ratio_ci_lower``, ``ratio_ci_upper``, ``ratio_name``, ``model``,
        ``n_obs`` (spells), ``n_events``. The discrete model also lists its baseline terms (``"baseline[...]"``,
        monthly log-odds, ``ratio`` = odds).

    Notes
    -----
    The discrete-time model is fitted by a hand-written Newton--Raphson (IRLS) logit because statsmodels is not
    installed and scikit-learn's ``LogisticRegression`` returns no covariance matrix (we would need the Hessian
    anyway for standard errors and the cluster sandwich). Person-months are never expanded: with time-constant
    covariates, the months a spell spends in baseline interval :math:`k` are binomial trials with at most one
    success, so the data are collapsed to (interval, covariate pattern, cluster) cells with trials and events --
    the same likelihood as the person-month logit (checked in the tests against scikit-learn on expanded data).
    The cluster-robust variance is :math:`\\frac{G}{G-1} H^{-1} \\big(\\sum_g s_g s_g'\\big) H^{-1}` with the
    score :math:`s_g` summed over the cells of cluster :math:`g`.
    """
    if kind not in ("cox", "discrete"):
        raise ValueError(f"kind must be 'cox' or 'discrete', got {kind!r}")
    covariates = list(covariates)
    if not covariates:
        raise ValueError("covariates must name at least one column")
    _check_durations(durations, duration_col, None)
    _require_columns(durations, [event_col] + ([cluster_col] if cluster_col else []), "durations")
    if event_of_interest is not None:
        labels = durations[event_col]
        if event_of_interest not in set(labels.dropna()):
            raise ValueError(f"event_of_interest {event_of_interest!r} does not occur in column {event_col!r}")
        event = (labels == event_of_interest).to_numpy(dtype=int)
    else:
        event = _event_flag(durations, event_col)
    if cluster_col is not None and durations[cluster_col].isna().any():
        raise ValueError(f"cluster column {cluster_col!r} has missing values")

    X = _design_matrix(durations, covariates)
    duration = durations[duration_col].to_numpy(dtype=float)

    if kind == "cox":
        from lifelines import CoxPHFitter

        data = X.copy()
        data["_duration"] = duration
        data["_event"] = event
        if cluster_col is not None:
            data["_cluster"] = durations[cluster_col].to_numpy()
        # A censored zero duration (exit in the window's last month) is in no risk set at an event time; dropping
        # it changes no estimate but keeps n_obs honest.
        data = data.loc[(data["_duration"] > 0) | (data["_event"] == 1)]
        fitter = CoxPHFitter()
        # Point estimates and the model-based variance come from lifelines. Its cluster-robust variance
        # (cluster_col=) loops over observations in Python, O(n^2): 243 s for 183k spells against 0.8 s for the
        # fit itself on a simulated register, so the sandwich is computed below in O(n log n).
        fitter.fit(data.drop(columns="_cluster", errors="ignore"), duration_col="_duration", event_col="_event")
        beta = fitter.params_.loc[list(X.columns)].to_numpy()
        bread = fitter.variance_matrix_.loc[list(X.columns), list(X.columns)].to_numpy()
        if cluster_col is None:
            cov = bread
        else:
            cov = _cox_cluster_sandwich(data[list(X.columns)].to_numpy(dtype=float), data["_duration"].to_numpy(),
                                        data["_event"].to_numpy(dtype=int), beta, bread,
                                        data["_cluster"].to_numpy())
        table = _coefficient_table(X.columns, beta, np.sqrt(np.diag(cov)), alpha=alpha,
                                   ratio_name="hazard_ratio", model="cox")
        table["n_obs"] = len(data)
        table["n_events"] = int(data["_event"].sum())
        return table

    # discrete-time logit hazard
    if not np.allclose(duration, np.round(duration)):
        raise ValueError(f"column {duration_col!r} must hold whole months for kind='discrete'")
    duration = np.round(duration).astype(np.int64)
    if ((duration == 0) & (event == 1)).any():
        raise ValueError(f"column {duration_col!r} has events at duration 0; discrete-time hazards start at month 1")
    bounds = _interval_bounds(baseline_breaks, int(max(duration.max(), 1)))
    base_names = [_interval_name(lo, hi) for lo, hi in bounds]
    cov_names = list(X.columns)

    cells = []
    cov_values = X.to_numpy(dtype=float)
    cluster = durations[cluster_col].to_numpy() if cluster_col is not None else None
    for k, (lo, hi) in enumerate(bounds):
        exposure = np.clip(np.minimum(duration, hi) - lo + 1, 0, None)
        keep = exposure > 0
        if not keep.any():
            continue
        cell = pd.DataFrame(cov_values[keep], columns=cov_names)
        cell["_interval"] = k
        cell["_trials"] = exposure[keep]
        cell["_events"] = (event[keep] == 1) & (duration[keep] >= lo) & (duration[keep] <= hi)
        if cluster is not None:
            cell["_cluster"] = cluster[keep]
        cells.append(cell)
    long = pd.concat(cells, ignore_index=True)
    keys = ["_interval"] + cov_names + (["_cluster"] if cluster is not None else [])
    grouped = long.groupby(keys, sort=True, dropna=False)[["_trials", "_events"]].sum().reset_index()

    used = sorted(grouped["_interval"].unique())
    design = np.column_stack(
        [(grouped["_interval"].to_numpy() == k).astype(float) for k in used]
        + [grouped[c].to_numpy(dtype=float) for c in cov_names]
    )
    names = [base_names[k] for k in used] + cov_names
    trials = grouped["_trials"].to_numpy(dtype=float)
    successes = grouped["_events"].to_numpy(dtype=float)
    beta, info = _binomial_logit_irls(design, successes, trials)
    bread = np.linalg.inv(info)
    if cluster is None:
        cov = bread
    else:
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        scores = design * (successes - trials * p)[:, None]
        cluster_ids = pd.factorize(grouped["_cluster"])[0]
        n_clusters = cluster_ids.max() + 1
        if n_clusters < 2:
            raise ValueError(f"cluster column {cluster_col!r} has fewer than two clusters")
        summed = np.zeros((n_clusters, design.shape[1]))
        np.add.at(summed, cluster_ids, scores)
        meat = summed.T @ summed
        cov = n_clusters / (n_clusters - 1) * bread @ meat @ bread
    table = _coefficient_table(names, beta, np.sqrt(np.diag(cov)), alpha=alpha, ratio_name="odds_ratio",
                               model="discrete_logit")
    table["n_obs"] = len(durations)
    table["n_events"] = int(event.sum())
    return table
