"""Two-way fixed-effects (TWFE) difference-in-differences with fixest-compatible clustered inference.

Both estimators regress the outcome on treatment indicators with unit and time effects absorbed
by :class:`linearmodels.PanelOLS`:

.. math::

    y_{it} = \\alpha_i + \\lambda_t + x_{it}'\\beta + \\varepsilon_{it}

:func:`twfe_static` uses the single regressor :math:`D_{it} = 1\\{G_i > 0,\\ t \\ge G_i\\}` (``G_i`` the
first treated period, 0 = never treated); :func:`event_study_twfe` uses relative-time dummies
:math:`1\\{t - G_i = e\\}` for every event time ``e`` except the reference period.

Standard errors are cluster-robust (CR1). The small-sample factor is pinned explicitly, because
linearmodels and fixest differ in how many parameters they count (see :data:`CONVENTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.linalg
import pandas as pd
from linearmodels import PanelOLS
from linearmodels.panel.utility import AbsorbingEffectError

from bijstand.did.results import (
    Critical, Effect, ResultMixin, check_option, critical_value, degrees_of_freedom, effect_table, glance_frame,
    summary_text, tidy_order, wald_columns,
)

Convention = Literal["fixest", "linearmodels"]

#: The two small-sample conventions for the clustered variance :math:`V = c\\,V_{CR0}` with
#: :math:`V_{CR0} = (\\tilde X'\\tilde X)^{-1}\\sum_g \\tilde X_g'\\hat u_g\\hat u_g'\\tilde X_g(\\tilde X'\\tilde X)^{-1}`
#: (:math:`\\tilde X` the regressors after absorbing both effects), :math:`G` clusters, :math:`n` observations:
#:
#: ``"fixest"``: :math:`c = \\frac{G}{G-1}\\frac{n-1}{n-K}`, fixest's default ``ssc(adj=TRUE,
#: fixef.K="nested", cluster.adj=TRUE)``. ``K`` counts the slope coefficients plus the fixed-effect
#: levels *not nested in the clusters*; a fixed effect that is fully nested in the clusters is replaced
#: by a single parameter. With units nested in clusters (clustering by unit or by a coarser area that
#: contains whole units): :math:`K = p + T` (``p`` slopes, ``T`` time levels). Inference uses
#: :math:`t_{G-1}`, like fixest. On ``mpdta`` (n = 2500, G = 500, T = 5): K = 6, SE = 0.0132652.
#:
#: ``"linearmodels"``: linearmodels' clustered covariance with ``debiased=True, auto_df=False,
#: count_effects=True, group_debias=True``: the same formula with every absorbed effect counted,
#: :math:`K = p + N + T - 1`; this equals fixest's ``ssc(fixef.K="full")``. p-values and intervals follow
#: ``critical`` in both conventions (linearmodels itself would use :math:`t` with the residual degrees of
#: freedom). On ``mpdta``: K = 505, SE = 0.0148316.
#: (linearmodels' bare default, ``debiased=False, group_debias=False``, gives 0.0148161.) ``auto_df`` must
#: be False in both: when True (linearmodels' default) it overrides ``count_effects``.
CONVENTIONS: tuple[str, ...] = ("fixest", "linearmodels")


def _critical_line(effect: Effect) -> str:
    reference = "N(0,1)" if effect.dof is None else f"t({effect.dof})"
    return f"{effect.crit_value:.4g} from {reference}, {100 * (1 - effect.alpha):g}% intervals"


def _inference_text(convention: str, cluster: str, n_clusters: int) -> str:
    return f"clustered CR1 ({convention} small-sample factor), by {cluster} ({n_clusters} clusters)"


@dataclass(frozen=True)
class TwfeResult(ResultMixin):
    """Static TWFE estimate of the treatment coefficient.

    Attributes
    ----------
    overall : Effect
        Coefficient on ``D`` with its clustered standard error, statistic, p-value and interval (critical value
        from ``critical``: :math:`t_{G-1}` by default, as fixest).
    n_obs, n_units, n_clusters : int
        Observations used, units and clusters.
    small_sample_factor : float
        The factor ``c`` that multiplies the CR0 variance (see :data:`CONVENTIONS`).
    convention : str
        ``"fixest"`` or ``"linearmodels"``.
    critical : str
        ``"t"`` or ``"normal"``.
    cluster : str
        Column the standard errors are clustered by.
    """

    overall: Effect
    n_obs: int
    n_units: int
    n_clusters: int
    small_sample_factor: float
    convention: str
    critical: str
    cluster: str

    @property
    def table(self) -> pd.DataFrame:
        """One row, ``term = "D"``, with the tidy columns."""
        return effect_table(self.overall, term="D")

    def summary(self) -> str:
        """Printable summary (fixest ``summary(feols(y ~ D | unit + time))`` style)."""
        header = [("Estimator", "static two-way fixed effects, y ~ D | unit + time (OLS)"),
                  ("Observations", self.n_obs), ("Units", self.n_units), ("Clusters", self.n_clusters),
                  ("Inference", self.overall.inference), ("Critical value", _critical_line(self.overall))]
        return summary_text(title="Two-way fixed effects", header=header, table=self.table, stars="p")

    def glance(self) -> pd.DataFrame:
        """One row: estimator, n_obs, n_units, n_clusters, convention, critical, dof, small_sample_factor."""
        return glance_frame(estimator="twfe_static", n_obs=self.n_obs, n_units=self.n_units,
                            n_clusters=self.n_clusters, convention=self.convention, critical=self.critical,
                            dof=self.overall.dof, small_sample_factor=self.small_sample_factor,
                            inference=self.overall.inference)


@dataclass(frozen=True)
class EventStudyResult(ResultMixin):
    """Dynamic TWFE event study.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per event time (the reference period included with estimate 0 and NaN SE):
        ``event_time, estimate, se, statistic, p_value, ci_lower, ci_upper``.
    vcov : pandas.DataFrame
        Clustered covariance of the estimated coefficients, indexed by event time (reference excluded).
    n_obs, n_units, n_clusters : int
    reference : int
    convention, critical : str
    crit_value : float
        Critical value of the pointwise intervals.
    dof : int or None
        Its degrees of freedom (``None`` = normal).
    alpha : float
    cluster : str
    overall : None
        An event study has no single headline parameter (fixest reports none).
    """

    table: pd.DataFrame
    vcov: pd.DataFrame = field(repr=False)
    n_obs: int
    n_units: int
    n_clusters: int
    reference: int
    convention: str
    critical: str
    crit_value: float
    dof: int | None
    alpha: float
    cluster: str
    overall: None = None

    def summary(self) -> str:
        """Printable summary (fixest style, one row per event time)."""
        reference = "N(0,1)" if self.dof is None else f"t({self.dof})"
        header = [("Estimator", "TWFE event study, y ~ sum_e 1{t - G = e} | unit + time (OLS)"),
                  ("Reference period", self.reference), ("Observations", self.n_obs), ("Units", self.n_units),
                  ("Clusters", self.n_clusters),
                  ("Inference", _inference_text(self.convention, self.cluster, self.n_clusters)),
                  ("Critical value", f"{self.crit_value:.4g} from {reference}, {100 * (1 - self.alpha):g}% "
                                     "pointwise intervals")]
        return summary_text(title="Two-way fixed effects event study", header=header, table=self.table,
                            table_label="Event-time coefficients", stars="p")

    def glance(self) -> pd.DataFrame:
        """One row: estimator, n_obs, n_units, n_clusters, n_event_times, reference, convention, critical, dof."""
        return glance_frame(estimator="event_study_twfe", n_obs=self.n_obs, n_units=self.n_units,
                            n_clusters=self.n_clusters, n_event_times=int(self.table["se"].notna().sum()),
                            reference=self.reference, convention=self.convention, critical=self.critical,
                            dof=self.dof)


@dataclass(frozen=True)
class _ClusteredFit:
    params: pd.Series
    vcov: pd.DataFrame
    n_obs: int
    n_units: int
    n_clusters: int
    small_sample_factor: float
    cluster: str


def _require_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    for role, column in columns.items():
        if column is not None and column not in data.columns:
            raise ValueError(f"column {column!r} (argument {role}=) is not in the data")


def _validate_panel(data: pd.DataFrame, *, y: str, unit: str, time: str, group: str, extra=()) -> None:
    for column in (y, time, group, *extra):
        if data[column].isna().any():
            raise ValueError(f"column {column!r} has missing values")
    if not pd.api.types.is_numeric_dtype(data[time]):
        raise ValueError(f"column {time!r} must be numeric (an integer period)")
    if not pd.api.types.is_numeric_dtype(data[group]):
        raise ValueError(f"column {group!r} must be numeric (first treated period, 0 = never treated)")
    group_values = data[group].to_numpy()
    if (group_values < 0).any():
        raise ValueError(f"column {group!r} has negative values; use 0 for never treated")
    # codes instead of DataFrame.duplicated and a groupby: the same verdicts in a fraction of the time (NaN units
    # count as one value for the duplicates, as duplicated() does, and are ignored for the group check, as groupby)
    unit_codes = pd.factorize(data[unit].to_numpy(), use_na_sentinel=False)[0]
    time_codes = pd.factorize(data[time].to_numpy())[0]
    n_times = int(time_codes.max()) + 1 if time_codes.size else 0
    if np.unique(unit_codes * n_times + time_codes).size < len(data):
        raise ValueError(f"columns {unit!r} and {time!r} do not identify rows uniquely")
    unit_keys = pd.factorize(data[unit].to_numpy())[0]
    if not _nested_codes(unit_keys, pd.factorize(group_values)[0]):
        raise ValueError(f"column {group!r} varies within {unit!r}; it must be constant per unit")


def _nested_codes(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether every inner code (-1 = missing, ignored) meets at most one outer code, as ``_is_nested`` but also
    true for an inner level whose outer values are all missing (used where the outer column has no missing values).
    """
    keep = inner >= 0
    if not keep.any():
        return True
    inner, outer = inner[keep], outer[keep]
    n_outer = int(outer.max()) + 2
    pairs = np.unique(inner.astype(np.int64) * n_outer + (outer + 1))
    return bool(np.bincount(pairs // n_outer).max() <= 1)


def _is_nested(inner: pd.Series, outer: pd.Series) -> bool:
    """Whether every level of ``inner`` lies within a single level of ``outer``.

    Missing values as pandas' ``groupby(inner)[outer].nunique() == 1``: missing inner levels are left out, missing
    outer values are not counted (an inner level whose outer values are all missing is therefore not nested).
    """
    inner_codes = pd.factorize(np.asarray(inner))[0]
    outer_codes = pd.factorize(np.asarray(outer))[0]
    keep = inner_codes >= 0
    if not keep.any():
        return True
    inner_codes, outer_codes = inner_codes[keep], outer_codes[keep]
    present = np.unique(inner_codes)
    known = outer_codes >= 0
    n_outer = int(outer_codes.max()) + 1 if known.any() else 1
    pairs = np.unique(inner_codes[known].astype(np.int64) * n_outer + outer_codes[known])
    distinct = np.bincount(pairs // n_outer, minlength=int(present.max()) + 1)
    return bool((distinct[present] == 1).all())


def _n_levels(values: np.ndarray) -> int:
    """Distinct non-missing values (``Series.nunique()``)."""
    codes = pd.factorize(values)[0]
    return int(codes.max()) + 1 if codes.size else 0


def _fixest_factor(frame: pd.DataFrame, *, n_slopes: int, nobs: int, unit: str, time: str, cluster_column: str,
                   n_clusters: int) -> float:
    """fixest's small-sample factor for clustered SEs with unit and time effects (pyfixest ``get_ssc``).

    All FE levels minus one redundancy per extra FE; each FE fully nested in the clusters counts as one parameter.
    """
    units, times, cluster_values = frame[unit].to_numpy(), frame[time].to_numpy(), frame[cluster_column].to_numpy()
    n_units, n_times = _n_levels(units), _n_levels(times)
    k = n_slopes + n_units + n_times - 1
    if _is_nested(units, cluster_values):
        k += 1 - n_units
    if _is_nested(times, cluster_values):
        k += 1 - n_times
    return n_clusters / (n_clusters - 1) * (nobs - 1) / (nobs - k)


def _fit_balanced(frame: pd.DataFrame, *, y: str, regressors: list[str], unit: str, time: str,
                  cluster: str) -> _ClusteredFit | None:
    r"""Unweighted two-way FE regression on a balanced panel by exact two-way demeaning; ``None`` if unbalanced.

    Written by hand because linearmodels' PanelOLS spends seconds on the hundreds of cohort x event-time
    dummies of a Sun-Abraham regression (measured 4.8 s for 22 areas x 36 months), which the simulation study
    runs thousands of times. On a balanced panel :math:`\ddot x_{it} = x_{it} - \bar x_{i\cdot} - \bar x_{\cdot t}
    + \bar x` absorbs both effects exactly (Frisch-Waugh-Lovell); the clustered CR0 sandwich is then scaled by
    fixest's factor, as in the PanelOLS path (tested equal to it).
    """
    unit_codes, unit_index = pd.factorize(frame[unit].to_numpy())
    time_codes, time_index = pd.factorize(frame[time].to_numpy())
    n_units, n_times = len(unit_index), len(time_index)
    nobs = len(frame)
    if nobs != n_units * n_times:
        return None
    cell = unit_codes * n_times + time_codes
    if np.unique(cell).size != nobs:
        return None
    values = frame[[y, *regressors]].to_numpy(dtype=float)
    grid = np.empty((n_units * n_times, values.shape[1]))
    grid[cell] = values
    grid = grid.reshape(n_units, n_times, -1)
    demeaned = grid - grid.mean(axis=1, keepdims=True) - grid.mean(axis=0, keepdims=True) + grid.mean(axis=(0, 1))
    demeaned = demeaned.reshape(n_units * n_times, -1)[cell]
    dy, dx = demeaned[:, 0], demeaned[:, 1:]
    xtx = dx.T @ dx
    collinear = ValueError(
        "the treatment indicators are collinear with the unit and time effects (e.g. an event study "
        "with every relative period and no never-treated units): bin or drop more event times"
    )
    # Cholesky instead of an SVD rank test: a third of the cost, and a pivot near zero is the same verdict
    try:
        chol = np.linalg.cholesky(xtx)
    except np.linalg.LinAlgError:
        raise collinear from None
    if np.diag(chol).min() <= 1e-7 * np.sqrt(np.diag(xtx).max()):
        raise collinear
    inv_chol = scipy.linalg.solve_triangular(chol, np.eye(len(regressors)), lower=True)
    bread = inv_chol.T @ inv_chol
    beta = bread @ (dx.T @ dy)
    resid = dy - dx @ beta
    cluster_codes = pd.factorize(frame[cluster].to_numpy())[0]
    n_clusters = int(cluster_codes.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"column {cluster!r} has fewer than two clusters")
    scores = np.zeros((n_clusters, len(regressors)))
    np.add.at(scores, cluster_codes, dx * resid[:, None])
    factor = _fixest_factor(frame, n_slopes=len(regressors), nobs=nobs, unit=unit, time=time,
                            cluster_column=cluster, n_clusters=n_clusters)
    vcov = bread @ (scores.T @ scores) @ bread * factor
    return _ClusteredFit(pd.Series(beta, index=regressors), pd.DataFrame(vcov, index=regressors, columns=regressors),
                         nobs, n_units, n_clusters, factor, cluster)


def _fit_clustered(
    frame: pd.DataFrame,
    *,
    y: str,
    regressors: list[str],
    unit: str,
    time: str,
    cluster: str | None,
    weights: str | None,
    convention: Convention,
) -> _ClusteredFit:
    """Fit ``y ~ regressors | unit + time`` with PanelOLS and return the pinned clustered vcov."""
    convention = check_option("convention", convention, CONVENTIONS)
    cluster_column = unit if cluster is None else cluster
    if convention == "fixest" and weights is None:
        balanced = _fit_balanced(frame, y=y, regressors=regressors, unit=unit, time=time, cluster=cluster_column)
        if balanced is not None:
            return balanced
    indexed = frame.set_index([unit, time])
    model = PanelOLS(
        indexed[y],
        indexed[regressors],
        entity_effects=True,
        time_effects=True,
        weights=None if weights is None else indexed[weights],
    )
    # linearmodels wants integer cluster codes; the codes keep the row order of `indexed`.
    codes = pd.DataFrame({"cluster": pd.factorize(frame[cluster_column].to_numpy())[0]}, index=indexed.index)
    n_clusters = int(codes["cluster"].nunique())
    if n_clusters < 2:
        raise ValueError(f"column {cluster_column!r} has fewer than two clusters")
    try:
        if convention == "fixest":
            # CR0 without any factor; the fixest factor is applied below because linearmodels cannot
            # express "count the time effects but not the nested unit effects".
            fit = model.fit(cov_type="clustered", clusters=codes, debiased=False, auto_df=False,
                            count_effects=False, group_debias=False)
        else:
            fit = model.fit(cov_type="clustered", clusters=codes, debiased=True, auto_df=False,
                            count_effects=True, group_debias=True)
    except AbsorbingEffectError as error:
        raise ValueError(
            "the treatment indicators are collinear with the unit and time effects (e.g. an event study "
            "with every relative period and no never-treated units): bin or drop more event times"
        ) from error

    nobs = int(fit.nobs)
    n_units = int(frame[unit].nunique())
    if convention == "fixest":
        factor = _fixest_factor(frame, n_slopes=len(regressors), nobs=nobs, unit=unit, time=time,
                                cluster_column=cluster_column, n_clusters=n_clusters)
        vcov = fit.cov * factor
        return _ClusteredFit(fit.params, vcov, nobs, n_units, n_clusters, factor, cluster_column)
    return _ClusteredFit(fit.params, fit.cov, nobs, n_units, n_clusters, np.nan, cluster_column)


def twfe_static(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    group: str,
    cluster: str | None = None,
    weights: str | None = None,
    convention: Convention = "fixest",
    critical: Critical = "t",
    alpha: float = 0.05,
) -> TwfeResult:
    """Static two-way fixed-effects DiD coefficient.

    Estimates :math:`\\beta` in

    .. math::

        y_{it} = \\alpha_i + \\lambda_t + \\beta D_{it} + \\varepsilon_{it},\\qquad
        D_{it} = 1\\{G_i > 0 \\text{ and } t \\ge G_i\\},

    i.e. R's ``fixest::feols(y ~ D | unit + time, cluster = ~cluster)``. With staggered timing and
    heterogeneous effects :math:`\\beta` is a variance-weighted mix of 2x2 comparisons, some with
    negative weights (see :func:`bijstand.did.bacon.bacon_decomposition`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and time.
    y, unit, time, group : str
        Outcome, unit id, integer time period and first-treated period (0 = never treated) columns.
    cluster : str, optional
        Cluster column; default clusters by ``unit`` (fixest's default with a unit fixed effect).
    weights : str, optional
        Column of sampling weights (weighted least squares).
    convention : {"fixest", "linearmodels"}
        Small-sample convention of the clustered SE; see :data:`CONVENTIONS`. ``"fixest"`` (default)
        reproduces ``feols`` to floating-point precision: on ``mpdta`` coefficient -0.0365489 and
        SE 0.0132652 (K = 1 slope + 5 years; the 500 county effects are nested in the county clusters
        and not counted). ``"linearmodels"`` counts the absorbed effects: SE 0.0148316.
    critical : {"t", "normal"}
        Reference distribution of the p-value and interval: ``"t"`` (default, fixest's) is :math:`t_{G-1}` with
        G clusters; ``"normal"`` the standard normal.
    alpha : float
        1 - confidence level of the interval.

    Returns
    -------
    TwfeResult

    Examples
    --------
    >>> import moderndid
    >>> mpdta = moderndid.load_mpdta().to_pandas()
    >>> fit = twfe_static(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat")
    >>> print(f"{fit.overall.estimate:.6f} (se {fit.overall.se:.6f}, t({fit.overall.dof}))")
    -0.036549 (se 0.013265, t(499))
    >>> fit.table.round(4)
      term  estimate      se  statistic  p_value  ci_lower  ci_upper
    0    D   -0.0365  0.0133    -2.7553   0.0061   -0.0626   -0.0105
    """
    _require_columns(data, {"y": y, "unit": unit, "time": time, "group": group, "cluster": cluster,
                            "weights": weights})
    _validate_panel(data, y=y, unit=unit, time=time, group=group)
    frame = data[[c for c in dict.fromkeys([y, unit, time, group, cluster, weights]) if c is not None]].copy()
    frame["D"] = ((frame[group] > 0) & (frame[time] >= frame[group])).astype(float)
    if frame["D"].nunique() < 2:
        raise ValueError(f"column {group!r} gives no variation in treatment: D is constant")
    critical = check_option("critical", critical, ("normal", "t"))
    fit = _fit_clustered(frame, y=y, regressors=["D"], unit=unit, time=time, cluster=cluster, weights=weights,
                         convention=convention)
    coef = float(fit.params["D"])
    se = float(np.sqrt(fit.vcov.loc["D", "D"]))
    dof = degrees_of_freedom(critical, fit.n_clusters)
    overall = Effect.from_se(coef, se, alpha=alpha, dof=dof, n_clusters=fit.n_clusters,
                             inference=_inference_text(convention, fit.cluster, fit.n_clusters))
    return TwfeResult(overall=overall, n_obs=fit.n_obs, n_units=fit.n_units, n_clusters=fit.n_clusters,
                      small_sample_factor=float(fit.small_sample_factor), convention=convention, critical=critical,
                      cluster=fit.cluster)


def _event_column(event_time: int) -> str:
    return f"event_m{-event_time}" if event_time < 0 else f"event_p{event_time}"


def event_study_twfe(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    group: str,
    leads: int | None = None,
    lags: int | None = None,
    bin_endpoints: bool = True,
    reference: int = -1,
    cluster: str | None = None,
    weights: str | None = None,
    convention: Convention = "fixest",
    critical: Critical = "t",
    alpha: float = 0.05,
) -> EventStudyResult:
    """Dynamic TWFE event study with relative-time dummies.

    .. math::

        y_{it} = \\alpha_i + \\lambda_t + \\sum_{e \\ne r,\\ -L \\le e \\le K} \\beta_e\\,
                 1\\{G_i > 0,\\ t - G_i = e\\} + \\varepsilon_{it}

    with reference period ``r`` omitted. :math:`\\beta_e` is the effect ``e`` periods after treatment
    relative to period ``r``; it is unbiased for the ATT at ``e`` when effects do not differ across
    treatment cohorts (e.g. all treated units start together). With staggered timing and
    heterogeneous effects use :func:`bijstand.did.sunab.sun_abraham` instead.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and time; never-treated units (``group == 0``) get no dummies.
    y, unit, time, group : str
        As in :func:`twfe_static`.
    leads, lags : int, optional
        Window ``-leads <= e <= lags``. Default: every event time present in the data.
    bin_endpoints : bool
        If True, event times beyond the window are pooled into the end dummies (``e < -leads`` counts
        as ``-leads``, ``e > lags`` as ``lags``). If False, treated observations outside the window
        are dropped, so that they are not silently treated as reference periods.
    reference : int
        Omitted event time (default -1, the period before treatment).
    cluster, weights, convention, critical, alpha
        As in :func:`twfe_static`.

    Returns
    -------
    EventStudyResult
    """
    _require_columns(data, {"y": y, "unit": unit, "time": time, "group": group, "cluster": cluster,
                            "weights": weights})
    _validate_panel(data, y=y, unit=unit, time=time, group=group)
    frame = data[[c for c in dict.fromkeys([y, unit, time, group, cluster, weights]) if c is not None]].copy()
    treated = frame[group] > 0
    if not treated.any():
        raise ValueError(f"column {group!r} has no treated units (all 0)")
    event_time = (frame[time] - frame[group]).where(treated)
    low = int(event_time.min()) if leads is None else -int(leads)
    high = int(event_time.max()) if lags is None else int(lags)
    if low > high:
        raise ValueError(f"empty event window: leads={leads}, lags={lags}")
    if not low <= reference <= high:
        raise ValueError(f"reference={reference} is outside the event window [{low}, {high}]")
    if bin_endpoints:
        event_time = event_time.clip(lower=low, upper=high)
    else:
        outside = treated & ((event_time < low) | (event_time > high))
        frame, event_time, treated = frame.loc[~outside], event_time.loc[~outside], treated.loc[~outside]
    event_times = [e for e in range(low, high + 1) if e != reference and (event_time == e).any()]
    columns = [_event_column(e) for e in event_times]
    for e, column in zip(event_times, columns):
        frame[column] = (event_time == e).astype(float).to_numpy()
    critical = check_option("critical", critical, ("normal", "t"))
    fit = _fit_clustered(frame, y=y, regressors=columns, unit=unit, time=time, cluster=cluster,
                         weights=weights, convention=convention)
    coef = fit.params[columns].to_numpy()
    se = np.sqrt(np.diag(fit.vcov.loc[columns, columns].to_numpy()))
    dof = degrees_of_freedom(critical, fit.n_clusters)
    table = pd.DataFrame({"event_time": event_times, "estimate": coef, "se": se})
    reference_row = pd.DataFrame({"event_time": [reference], "estimate": [0.0], "se": [np.nan]})
    table = pd.concat([table, reference_row]).sort_values("event_time").reset_index(drop=True)
    table = tidy_order(wald_columns(table, alpha=alpha, dof=dof), ["event_time"])
    vcov = pd.DataFrame(fit.vcov.loc[columns, columns].to_numpy(), index=event_times, columns=event_times)
    vcov.index.name = vcov.columns.name = "event_time"
    return EventStudyResult(table=table, vcov=vcov, n_obs=fit.n_obs, n_units=fit.n_units,
                            n_clusters=fit.n_clusters, reference=reference, convention=convention, critical=critical,
                            crit_value=critical_value(alpha, dof), dof=dof, alpha=alpha, cluster=fit.cluster)
