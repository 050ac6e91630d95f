r"""The imputation estimator of Borusyak, Jaravel & Spiess (2024), computed as R ``didimputation`` 0.5.0 does.

With units :math:`i`, periods :math:`t`, first-treated period :math:`G_i` (0 or NaN = never treated), treated
observations :math:`\Omega_1 = \{(i,t): G_i > 0,\ t \ge G_i\}` and untreated observations :math:`\Omega_0` (the
rest), the estimator

1. fits the model of the untreated potential outcome by (weighted) least squares on :math:`\Omega_0` only,

   .. math::

       Y_{it}(0) = \alpha_i + \lambda_t + X_{it}'\beta + \varepsilon_{it},\qquad (i,t) \in \Omega_0

   (the "first stage"; :math:`X_{it}` optional time-varying covariates);
2. imputes :math:`\hat Y_{it}(0) = \hat\alpha_i + \hat\lambda_t + X_{it}'\hat\beta` and
   :math:`\hat\tau_{it} = Y_{it} - \hat Y_{it}(0)` for every :math:`(i,t) \in \Omega_1`;
3. averages: :math:`\hat\tau_w = \sum_{\Omega_1} w_{it}\hat\tau_{it}` with weights :math:`w_{it} \propto
   \omega_{it}\,1\{\cdot\}` summing to one (:math:`\omega` the observation weights, ``weights``): all treated
   observations (the static ATT) or those with :math:`t - G_i = e` (horizon :math:`e`).

The estimate is linear in the outcome, :math:`\hat\tau_w = \sum_{it} v_{it} Y_{it}` with :math:`v_{it} = w_{it}` on
:math:`\Omega_1` and :math:`v_{\Omega_0} = -W_0 Z_0 (Z_0'W_0 Z_0)^{-1} Z_1' w_1` on :math:`\Omega_0` (:math:`Z` the
first-stage regressors, :math:`W` the observation weights); :attr:`ImputationResult.observation_weights` keeps
these :math:`v` so that bootstraps and randomisation inference can recompute estimates on new outcomes by one
matrix product.

Standard errors are BJS's conservative cluster-robust ones as ``didimputation`` implements them:
:math:`\tilde\varepsilon_{it}` is the first-stage residual on :math:`\Omega_0` and
:math:`\hat\tau_{it} - \bar\tau_{c}` on :math:`\Omega_1`, where :math:`\bar\tau_c` is the
:math:`v^{*2}`-weighted mean of :math:`\hat\tau` within the cell :math:`c` = (cohort, event time); then

.. math::

    \widehat{se} = \Big(\sum_{\text{clusters } k} \Big(\sum_{(i,t) \in k} v^*_{it}\,\tilde\varepsilon_{it}
    \Big)^2\Big)^{1/2}

without a small-sample factor. Without ``weights`` :math:`v^* = v`. With ``weights`` ``didimputation`` forms
:math:`v^*_{\Omega_0} = -W_0 Z_0 (Z_0' W_0^2 Z_0)^{-1} Z_1' W_1 w_1` (its design matrix is multiplied by the weights
before the cross-products, so the weights enter squared), which is not the exact representation :math:`v` of the
weighted estimate; the standard errors follow R (``variance="didimputation"``, to match its output) unless
``variance="exact"`` asks for :math:`v^* = v`.

Pre-trends (``pretrends=``) are, as in ``did_imputation``, a second regression on :math:`\Omega_0` with event-time
dummies :math:`1\{t - G_i = e\}` for pre-treatment :math:`e` added to the first-stage model, with fixest's clustered
standard errors (the convention of :mod:`bijstand.did.twfe`) and a joint Wald test that all are zero.

Identification: :math:`\alpha_i` needs an untreated observation of unit :math:`i`, :math:`\lambda_t` one in period
:math:`t`. Treated observations of units or periods without one are not imputable; by default this raises a
``ValueError`` naming them, and ``unidentified="drop"`` drops them with a warning that counts them. fixest >= 0.13
also drops, silently, untreated observations whose unit or period effect rests on that observation alone
(``fixef.rm = "perfect_fit"``), which makes ``didimputation`` drop whole cohorts (see
``tests/fixtures/r_didimputation_mpdta/README.md``); ``singletons="drop"`` reproduces that, with a warning.

The first stage is exact least squares (:class:`TwoWayLeastSquares`): the unit effects are eliminated in closed
form (weighted within-unit means) and the small :math:`(T - 1 + p)` system for the period effects and slopes is
solved through its Cholesky factor (block elimination of the normal equations, :math:`O(n)` memory, no iteration).
The same factorisation gives :math:`(Z_0'W_0Z_0)^{-1}Z_1'w_1` for :math:`v`. Measured on this machine (2 shared cores):
on the 267,232 untreated rows of a 20,000 x 24 panel the direct solve takes 97 ms, alternating projections to a
1e-14 change take 191 ms (26 sweeps); on 22 x 120 the direct solve takes 8 ms and alternating projections 1 ms, but
their number of sweeps grows with how weakly units and periods are connected while the direct solve's cost does not.
``benchmarks/bench_imputation.py`` times the whole estimator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg, sparse, stats
from scipy.sparse.csgraph import connected_components
from threadpoolctl import ThreadpoolController

from bijstand.did.results import (
    CRITICAL, Effect, check_option, degrees_of_freedom, wald_columns,
)

Unidentified = Literal["raise", "drop"]
Singletons = Literal["keep", "drop"]
Variance = Literal["didimputation", "exact"]
UNIDENTIFIED: tuple[str, ...] = ("raise", "drop")
SINGLETONS: tuple[str, ...] = ("keep", "drop")
VARIANCES: tuple[str, ...] = ("didimputation", "exact")

#: Pivot (relative to the column's own sum of squares) below which a first-stage or pre-trend regressor counts
#: as collinear with the ones before it (fixest's ``collin.tol``).
COLLINEARITY_TOL = 1e-10


# ----------------------------------------------------------------------------------------------------------------
# Exact least squares with unit and period effects
# ----------------------------------------------------------------------------------------------------------------

_BLAS = None


def _one_blas_thread():
    """Context limiting BLAS/LAPACK to one thread: a small factorisation is up to 10x slower with two threads on a
    busy machine (measured: Cholesky and inverse of a 119 x 119 matrix 5.3 ms vs 2.3 ms at load 5 on 2 cores)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


class CollinearityError(ValueError):
    """A regressor of a two-way fixed-effects regression is collinear with the effects or the other regressors.

    ``columns`` lists the positions among the non-absorbed regressors (period dummies 1..T-1 first, then the
    covariates) that are linear combinations of those before them.
    """

    def __init__(self, message: str, columns: list[int]):
        super().__init__(message)
        self.columns = columns


def _sequential_pivots(gram: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Share of each column's raw sum of squares left after the fixed effects and the kept columns before it.

    ``gram`` is the Gram matrix of the columns after projecting out the fixed effects, ``raw`` each column's
    (weighted) sum of squares before. Column ``j`` gets :math:`(g_{jj}/\\text{raw}_j)(1 - R^2_j)`, :math:`R^2_j` from
    its regression on the kept columns before it; a column is kept when this exceeds :data:`COLLINEARITY_TOL`. This
    is how fixest decides, in formula order, which variables to drop.
    """
    q = gram.shape[0]
    diag = np.diag(gram).copy()
    share = np.divide(diag, raw, out=np.zeros(q), where=raw > 0)
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    g = gram / scale[:, None] / scale[None, :]
    pivots = np.zeros(q)
    factor = np.zeros((q, q))
    kept: list[int] = []
    for j in range(q):
        if share[j] <= COLLINEARITY_TOL:
            pivots[j] = share[j]
            continue
        column = g[j, kept]
        coef = linalg.solve_triangular(factor[np.ix_(kept, kept)], column, lower=True) if kept else column
        pivot = g[j, j] - coef @ coef
        pivots[j] = pivot * share[j]
        if pivots[j] > COLLINEARITY_TOL:
            factor[j, kept] = coef
            factor[j, j] = np.sqrt(pivot)
            kept.append(j)
    return pivots


class TwoWayLeastSquares:
    r"""Exact weighted least squares of one or many outcomes on unit effects, period effects and covariates.

    .. math::

        \min_{\alpha, \lambda, \beta} \sum_{r} \omega_r\,(y_r - \alpha_{u(r)} - \lambda_{t(r)} - x_r'\beta)^2,
        \qquad \lambda_0 = 0,

    solved by eliminating the unit effects (weighted within-unit means) and a Cholesky factorisation of the
    :math:`(T - 1 + p)`-square Schur complement. Unit and period codes must be ``0..n_units-1`` and
    ``0..n_times-1``, every level present.

    Raises :class:`CollinearityError` when a period dummy or a covariate is collinear with the effects and the
    columns before it (pivot below :data:`COLLINEARITY_TOL`).
    """

    def __init__(self, unit: np.ndarray, time: np.ndarray, *, n_units: int, n_times: int,
                 covariates: np.ndarray | None = None, weights: np.ndarray | None = None):
        n = unit.size
        self.unit, self.time = unit, time
        self.n_units, self.n_times = n_units, n_times
        self.w = np.ones(n) if weights is None else np.asarray(weights, float)
        self.X = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, float).reshape(n, -1)
        self.p = self.X.shape[1]
        rows = np.arange(n)
        # weighted incidence matrices: (Uw @ Y)[u] = sum of w*Y over unit u's rows
        self._Uw = sparse.csr_matrix((self.w, (unit, rows)), shape=(n_units, n))
        self._Tw = sparse.csr_matrix((self.w, (time, rows)), shape=(n_times, n))
        self.unit_weight = np.bincount(unit, self.w, n_units)
        self.time_weight = np.bincount(time, self.w, n_times)
        if (self.unit_weight <= 0).any() or (self.time_weight <= 0).any():
            raise ValueError("every unit and period must have an observation with positive weight")
        # C[u, t] = sum of weights of unit u in period t (without the reference period 0)
        self._C = sparse.csr_matrix((self.w, (unit, time)), shape=(n_units, n_times))[:, 1:].tocsc()
        self._XU = self._Uw @ self.X                                   # n_units x p
        self._Xw = self.X - (self._XU / self.unit_weight[:, None])[unit]  # within-unit demeaned covariates
        d_tt = np.diag(self.time_weight[1:]) - (self._C.T @ sparse.diags(1 / self.unit_weight) @ self._C).toarray()
        d_tx = (self._Tw @ self._Xw)[1:]
        d_xx = self._Xw.T @ (self._Xw * self.w[:, None])
        self.gram = np.block([[d_tt, d_tx], [d_tx.T, d_xx]])
        q = self.gram.shape[0]
        raw = np.concatenate([self.time_weight[1:], (self.X * self.X * self.w[:, None]).sum(axis=0)])
        scale = np.sqrt(np.clip(np.diag(self.gram), 0, None))
        self._scale = np.where(scale > 0, scale, 1.0)
        inverse = None
        if q and (np.diag(self.gram) > COLLINEARITY_TOL * raw).all():
            scaled = self.gram / self._scale[:, None] / self._scale[None, :]
            with _one_blas_thread():
                try:
                    factor = linalg.cho_factor(scaled, lower=True)
                except linalg.LinAlgError:
                    factor = None
                if factor is not None and np.min(np.diag(factor[0])) ** 2 > COLLINEARITY_TOL:
                    inverse = linalg.cho_solve(factor, np.eye(q))
        if q and inverse is None:
            pivots = _sequential_pivots(self.gram, raw)
            bad = [int(j) for j in np.flatnonzero(pivots <= COLLINEARITY_TOL)]
            raise CollinearityError(f"regressors {bad} are collinear with the fixed effects or earlier regressors",
                                    bad)
        # the inverse of the (small) scaled Schur complement: every later solve is a matrix product plus one step
        # of iterative refinement, which keeps the solution exact to rounding
        self._inverse = inverse

    def _solve_reduced(self, rhs: np.ndarray) -> np.ndarray:
        if rhs.shape[0] == 0:
            return rhs
        scale = self._scale[:, None]
        with _one_blas_thread():
            solution = (self._inverse @ (rhs / scale)) / scale
            correction = (self._inverse @ ((rhs - self.gram @ solution) / scale)) / scale
        return solution + correction

    def solve_normal(self, h_unit: np.ndarray, h_time: np.ndarray, h_x: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Solve :math:`(Z'WZ)\,b = h` for right-hand sides given per unit, per period and per covariate.

        Each block has one column per right-hand side. Returns ``(b_unit, b_time, b_x)`` with ``b_time[0] = 0``
        (the reference period).
        """
        h_unit = h_unit.reshape(self.n_units, -1)
        m = h_unit.shape[1]
        h_unit_mean = h_unit / self.unit_weight[:, None]
        r_t = h_time.reshape(self.n_times, m)[1:] - self._C.T @ h_unit_mean
        r_x = h_x.reshape(self.p, m) - self._XU.T @ h_unit_mean
        b_r = self._solve_reduced(np.vstack([r_t, r_x]))
        b_t, b_x = b_r[: self.n_times - 1], b_r[self.n_times - 1:]
        b_unit = h_unit_mean - (self._C @ b_t + self._XU @ b_x) / self.unit_weight[:, None]
        return b_unit, np.vstack([np.zeros((1, m)), b_t]), b_x

    def fit(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coefficients ``(alpha, lambda, beta)`` for the outcome column(s) ``y`` (rows as in the design).

        The outcome is demeaned within units before the reduced system is formed (no cancellation); one step of
        iterative refinement on the reduced normal equations keeps the solution exact to rounding.
        """
        y = np.asarray(y, float)
        y2 = y.reshape(y.shape[0], -1)
        unit_mean = (self._Uw @ y2) / self.unit_weight[:, None]
        y_within = y2 - unit_mean[self.unit]
        rhs = np.vstack([(self._Tw @ y_within)[1:], self._Xw.T @ (y_within * self.w[:, None])])
        b_r = self._solve_reduced(rhs)
        b_t, b_x = b_r[: self.n_times - 1], b_r[self.n_times - 1:]
        lam = np.vstack([np.zeros((1, y2.shape[1])), b_t])
        alpha = unit_mean - (self._Uw @ (lam[self.time] + self.X @ b_x)) / self.unit_weight[:, None]
        if y.ndim == 1:
            return alpha[:, 0], lam[:, 0], b_x[:, 0]
        return alpha, lam, b_x

    @staticmethod
    def predict(coefficients, unit: np.ndarray, time: np.ndarray, covariates: np.ndarray | None = None
                ) -> np.ndarray:
        """Fitted values :math:`\\alpha_u + \\lambda_t + x'\\beta` at the given rows."""
        alpha, lam, beta = coefficients
        fitted = alpha[unit] + lam[time]
        if covariates is not None and np.size(beta):
            fitted = fitted + np.asarray(covariates, float).reshape(unit.size, -1) @ beta
        return fitted

    def residuals(self, y: np.ndarray) -> np.ndarray:
        """Residuals of ``y`` (one column or many) on the model's own rows."""
        return np.asarray(y, float) - self.predict(self.fit(y), self.unit, self.time, self.X)


# ----------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrendTest:
    """Pre-trend coefficients (``did_imputation(pretrends=...)``) and their joint test.

    Attributes
    ----------
    table
        One row per pre-treatment event time kept in the regression: ``event_time, estimate, se, statistic,
        p_value, ci_lower, ci_upper``.
    dropped
        Requested event times dropped as collinear with the fixed effects (as fixest drops them), e.g. the last
        pre-period when every pre-period of every cohort has a dummy.
    vcov
        Clustered covariance of the coefficients (fixest's small-sample factor, :mod:`bijstand.did.twfe`).
    statistic, df_num, df_denom, p_value
        Joint Wald test of all coefficients being zero: :math:`F = \\hat\\beta' V^{-1}\\hat\\beta / q` with
        :math:`q` = ``df_num`` coefficients, referred to :math:`F(q, G - 1)` (``df_denom`` = G - 1, the
        cluster-robust convention of fixest's and Stata's ``test``).
    chi2_p_value
        p-value of :math:`qF` against :math:`\\chi^2_q` (large-G reference).
    n_obs, n_clusters
        Untreated observations and clusters of the regression.
    """

    table: pd.DataFrame
    dropped: tuple[int, ...]
    vcov: pd.DataFrame
    statistic: float
    df_num: int
    df_denom: int
    p_value: float
    chi2_p_value: float
    n_obs: int
    n_clusters: int

    def __str__(self) -> str:
        return (f"joint pre-trend test: F({self.df_num}, {self.df_denom}) = {self.statistic:.4g}, "
                f"p = {self.p_value:.4g} (chi2 p = {self.chi2_p_value:.4g})")


@dataclass
class ImputationResult:
    r"""Result of :func:`imputation`.

    Attributes
    ----------
    overall
        :class:`~bijstand.did.results.Effect` of the headline parameter: the static ATT (average of
        :math:`\hat\tau_{it}` over all treated observations) without ``horizon``; with ``horizon`` the simple
        mean of the horizon effects :math:`\frac1{|E|}\sum_{e\in E}\hat\tau_e`, with its own conservative SE
        (it is again linear in :math:`Y`). ``overall_label`` says which.
    table
        One row per estimate: ``term`` (``"ATT"``) for the static ATT, or ``event_time`` per horizon, then
        ``estimate, se, statistic, p_value, ci_lower, ci_upper, n_obs`` (treated observations averaged).
    pretrends
        :class:`PretrendTest` or ``None``.
    effects
        One row per imputed treated observation: ``unit, time, group, event_time, tau, weight`` (``weight`` is the
        observation weight :math:`\omega_{it}`, 1 without ``weights``).
    observation_weights
        The representation :math:`\hat\theta_k = \sum_r v_{rk} Y_r` over the estimation sample: ``unit, time,
        treated`` and one column per estimate (``"ATT"`` or ``"e0", "e1", ...`` and ``"overall"``); index = the
        rows' index in ``data``. :meth:`recompute` applies it.
    estimate_names
        Names of the estimates, in the order of :attr:`observation_weights`'s columns and :meth:`recompute`'s output.
    n_obs, n_treated, n_untreated, n_units, n_periods, n_clusters
        Counts of the estimation sample.
    n_dropped_treated
        Treated observations dropped as not imputable (``unidentified="drop"``).
    outcome, cluster, covariates, weights, variance
        The options of the call.
    """

    overall: Effect
    overall_label: str
    table: pd.DataFrame
    pretrends: PretrendTest | None
    effects: pd.DataFrame
    estimate_names: list[str]
    n_obs: int
    n_treated: int
    n_untreated: int
    n_units: int
    n_periods: int
    n_clusters: int
    n_dropped_treated: int
    outcome: str
    cluster: str
    covariates: tuple[str, ...]
    weights: str | None
    variance: str
    _design: _Design = field(repr=False)
    _index: pd.Index = field(repr=False)
    _unit_values: np.ndarray = field(repr=False)
    _time_values: np.ndarray = field(repr=False)

    @property
    def observation_weights(self) -> pd.DataFrame:
        """:math:`v` per row of the estimation sample: ``unit, time, treated`` and one column per estimate."""
        frame = pd.DataFrame({"unit": self._unit_values, "time": self._time_values,
                              "treated": self._design.treated}, index=self._index)
        weights = pd.DataFrame(self._design.v_matrix(), columns=self.estimate_names, index=self._index)
        return pd.concat([frame, weights], axis=1)

    def tidy(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def recompute(self, y) -> np.ndarray:
        """Estimates for other outcomes on the same sample: ``v' y`` (no refit).

        ``y`` is a vector (or a matrix with one column per outcome) in the row order of
        :attr:`observation_weights`, or a ``pandas.Series`` aligned on its index. Returns one value per estimate
        (:attr:`estimate_names`), or estimates × outcomes.
        """
        if isinstance(y, pd.Series):
            y = y.reindex(self._index).to_numpy(float)
        y = np.asarray(y, float)
        if y.shape[0] != self._index.size:
            raise ValueError(f"recompute: y has {y.shape[0]} rows, the estimation sample has {self._index.size}")
        return self._design.apply(y)

    def glance(self) -> pd.DataFrame:
        """One-row summary of the fit."""
        return pd.DataFrame([{
            "estimator": "imputation (Borusyak, Jaravel & Spiess 2024)", "outcome": self.outcome,
            "n_obs": self.n_obs, "n_treated": self.n_treated, "n_untreated": self.n_untreated,
            "n_units": self.n_units, "n_periods": self.n_periods, "n_clusters": self.n_clusters,
            "control_group": "not yet treated and never treated (untreated observations)",
            "overall": self.overall_label, "estimate": self.overall.estimate, "se": self.overall.se,
            "p_value": self.overall.p_value, "n_dropped_treated": self.n_dropped_treated,
            "inference": self.overall.inference,
        }])

    def summary(self) -> str:
        """Printable summary (header, overall parameter, table, pre-trend test)."""
        lines = [
            "Imputation estimator (Borusyak, Jaravel & Spiess 2024)",
            f"Outcome: {self.outcome}   Observations: {self.n_obs} ({self.n_treated} treated, "
            f"{self.n_untreated} untreated)   Units: {self.n_units}   Periods: {self.n_periods}",
            "First stage: unit + period effects" + (f" + {', '.join(self.covariates)}" if self.covariates else "")
            + (f"; weights {self.weights}" if self.weights else ""),
            f"Inference: {self.overall.inference} ({self.n_clusters} clusters); critical value "
            f"{self.overall.crit_value:.4g} from " + ("N(0,1)" if self.overall.dof is None
                                                       else f"t({self.overall.dof})"),
        ]
        if self.n_dropped_treated:
            lines.append(f"Dropped treated observations (not imputable): {self.n_dropped_treated}")
        lines += ["", f"Overall ({self.overall_label}): {self.overall.estimate:.6g} (se {self.overall.se:.6g}), "
                  f"{100 * (1 - self.overall.alpha):g}% CI [{self.overall.ci_lower:.6g}, "
                  f"{self.overall.ci_upper:.6g}], p = {self.overall.p_value:.4g}", "",
                  self.table.to_string(index=False, float_format=lambda v: f"{v:.6g}")]
        if self.pretrends is not None:
            lines += ["", "Pre-trend coefficients (regression on untreated observations, fixest clustered SEs):",
                      self.pretrends.table.to_string(index=False, float_format=lambda v: f"{v:.6g}")]
            if self.pretrends.dropped:
                lines.append(f"dropped as collinear: {list(self.pretrends.dropped)}")
            lines.append(str(self.pretrends))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------------------------

class _Design:
    """Everything the estimates and SEs need, over the estimation sample (the rows of ``data`` kept).

    The representation :math:`v` (rows x estimates) is kept in factored form: the sparse averaging weights ``wtr``
    (treated rows x estimates) and, on the untreated rows, :math:`v_r = -\\omega_r(b_{u(r)} + b_{t(r)} + x_r'b_x)`
    with ``coef = (b_u, b_t, b_x)`` (``coef_se`` for the :math:`v^*` of the standard errors). Nothing of size
    rows x estimates is formed unless asked for (:meth:`v_matrix`).
    """

    def __init__(self, *, y, treated, unit, time, X, w, first_stage, wtr, coef, coef_se, cell, cluster, n_clusters):
        self.y, self.treated, self.unit, self.time, self.X, self.w = y, treated, unit, time, X, w
        self.first_stage, self.wtr, self.coef, self.coef_se = first_stage, wtr.tocsc(), coef, coef_se
        self.cell, self.cluster, self.n_clusters = cell, cluster, n_clusters
        self.treated_rows = np.flatnonzero(treated)
        self.untreated_rows = np.flatnonzero(~treated)
        self.n_estimates = wtr.shape[1]
        triplets = wtr.tocoo()
        self._w_rows, self._w_cols, self._w_vals = triplets.row, triplets.col, triplets.data
        n, n1 = treated.size, self.treated_rows.size
        self.n_cells = int(cell.max()) + 1
        self._cells = sparse.csr_matrix((np.ones(n1), (cell, np.arange(n1))), shape=(self.n_cells, n1))
        self._clusters = sparse.csr_matrix((np.ones(n), (cluster, np.arange(n))), shape=(n_clusters, n))
        self._u0 = unit[self.untreated_rows]
        self._t0 = time[self.untreated_rows]
        self._X0 = None if X is None else X[self.untreated_rows]
        self._w0 = w[self.untreated_rows]

    def _v_untreated(self, coef, columns=slice(None)) -> np.ndarray:
        b_u, b_t, b_x = coef
        return -self._w0[:, None] * TwoWayLeastSquares.predict(
            (b_u[:, columns], b_t[:, columns], b_x[:, columns]), self._u0, self._t0, self._X0)

    def v_matrix(self, *, se: bool = False) -> np.ndarray:
        """The representation :math:`v` (or :math:`v^*` with ``se=True``), rows x estimates."""
        v = np.empty((self.treated.size, self.n_estimates))
        v[self.treated_rows] = self.wtr.toarray()
        v[self.untreated_rows] = self._v_untreated(self.coef_se if se else self.coef)
        return v

    def v_column(self, k: int, *, se: bool = False) -> np.ndarray:
        """Column ``k`` of :meth:`v_matrix`."""
        v = np.empty(self.treated.size)
        v[self.treated_rows] = self.wtr[:, [k]].toarray()[:, 0]
        v[self.untreated_rows] = self._v_untreated(self.coef_se if se else self.coef, [k])[:, 0]
        return v

    def apply(self, y: np.ndarray) -> np.ndarray:
        """:math:`v'y` for one outcome (a vector) or many (columns): estimates (x outcomes)."""
        y = np.asarray(y, float)
        y2 = y.reshape(self.treated.size, -1)
        y0 = y2[self.untreated_rows] * self._w0[:, None]
        b_u, b_t, b_x = self.coef
        untreated = (b_u.T @ (sparse.csr_matrix((np.ones(self._u0.size), (self._u0, np.arange(self._u0.size))),
                                                shape=(b_u.shape[0], self._u0.size)) @ y0)
                     + b_t.T @ (sparse.csr_matrix((np.ones(self._t0.size), (self._t0, np.arange(self._t0.size))),
                                                  shape=(b_t.shape[0], self._t0.size)) @ y0))
        if self._X0 is not None:
            untreated = untreated + b_x.T @ (self._X0.T @ y0)
        out = self.wtr.T @ y2[self.treated_rows] - untreated
        return out[:, 0] if y.ndim == 1 else out

    def imputation_residuals(self, y: np.ndarray) -> np.ndarray:
        """First-stage residuals on untreated rows and :math:`\\hat\\tau` on treated rows (rows x columns of y)."""
        y2 = np.asarray(y, float).reshape(self.treated.size, -1)
        coefficients = self.first_stage.fit(y2[self.untreated_rows])
        return y2 - TwoWayLeastSquares.predict(coefficients, self.unit, self.time, self.X)

    def scores_all(self, residuals: np.ndarray) -> np.ndarray:
        """Cluster scores :math:`\\sum_{r\\in c} v^*_{rk}\\tilde\\varepsilon_{rk}` of one outcome for every
        estimate ``k`` (clusters x estimates); ``residuals`` from :meth:`imputation_residuals` (one column).

        The untreated part is summed in factored form: :math:`-\\sum_{r \\in c}\\omega_r e_r (b_{u(r)} + b_{t(r)}
        + x_r'b_x)` needs only the cluster x unit and cluster x period sums of :math:`\\omega e`.
        """
        r = residuals.reshape(-1)
        r1 = r[self.treated_rows]
        rows, cols, vals = self._w_rows, self._w_cols, self._w_vals
        k = self.n_estimates
        cell_col = self.cell[rows] * k + cols
        weight = vals * vals
        numerator = np.bincount(cell_col, weight * r1[rows], self.n_cells * k)
        denominator = np.bincount(cell_col, weight, self.n_cells * k)
        tau_bar = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
        cluster_col = self.cluster[self.treated_rows][rows] * k + cols
        treated_part = np.bincount(cluster_col, vals * (r1[rows] - tau_bar[cell_col]),
                                   self.n_clusters * k).reshape(self.n_clusters, k)
        c0 = self.cluster[self.untreated_rows]
        we = self._w0 * r[self.untreated_rows]
        b_u, b_t, b_x = self.coef_se
        by_unit = sparse.csr_matrix((we, (c0, self._u0)), shape=(self.n_clusters, b_u.shape[0]))
        by_time = sparse.csr_matrix((we, (c0, self._t0)), shape=(self.n_clusters, b_t.shape[0]))
        untreated_part = by_unit @ b_u + by_time @ b_t
        if self._X0 is not None:
            untreated_part = untreated_part + (self._clusters[:, self.untreated_rows] @ (self._X0 * we[:, None])) @ b_x
        return treated_part - untreated_part

    def scores_one(self, residuals: np.ndarray, k: int, v: np.ndarray | None = None) -> np.ndarray:
        """Cluster scores of estimate ``k`` for many outcomes at once (clusters x columns of ``residuals``)."""
        v = self.v_column(k, se=True) if v is None else v
        v1 = v[self.treated_rows]
        v2 = v1 * v1
        r1 = residuals[self.treated_rows]
        denominator = self._cells @ v2
        numerator = self._cells @ (v2[:, None] * r1)
        tau_bar = np.divide(numerator, denominator[:, None], out=np.zeros_like(numerator),
                            where=denominator[:, None] > 0)
        product = v[:, None] * residuals
        product[self.treated_rows] -= v1[:, None] * tau_bar[self.cell]
        return self._clusters @ product


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def _describe(values, limit: int = 8) -> str:
    values = list(values)
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _parse_event_times(option, name: str, available: np.ndarray, sign: int) -> list[int] | None:
    """``None``/``False`` -> None; ``True`` -> every available event time of the sign; list -> checked list."""
    if option is None or option is False:
        return None
    if option is True:
        chosen = sorted(int(e) for e in available if (e >= 0 if sign > 0 else e < 0))
        if not chosen:
            raise ValueError(f"{name}=True: the data have no {'post' if sign > 0 else 'pre'}-treatment event times")
        return chosen
    if isinstance(option, (int, np.integer)) and not isinstance(option, bool):
        option = [int(option)]
    try:
        chosen = sorted({int(e) for e in option})
    except TypeError as error:
        raise ValueError(f"{name} must be None, True or a list of integer event times, got {option!r}") from error
    if any(float(e) != float(o) for e, o in zip(sorted(chosen), sorted(set(option)))):
        raise ValueError(f"{name} must hold integer event times, got {option!r}")
    wrong_sign = [e for e in chosen if (e < 0 if sign > 0 else e >= 0)]
    if wrong_sign:
        hint = "use pretrends= for event times before treatment" if sign > 0 else "use horizon= for e >= 0"
        raise ValueError(f"{name} must be {'>= 0' if sign > 0 else '< 0'}; got {wrong_sign} ({hint})")
    missing = [e for e in chosen if e not in set(int(a) for a in available)]
    if missing:
        raise ValueError(f"{name}: event times {missing} do not occur in the data (available: "
                         f"{sorted(int(a) for a in available)})")
    return chosen


def imputation(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    group: str,
    horizon: bool | list[int] | None = None,
    pretrends: bool | list[int] | None = None,
    covariates: list[str] | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    critical: Literal["normal", "t"] = "normal",
    unidentified: Unidentified = "raise",
    singletons: Singletons = "keep",
    variance: Variance = "didimputation",
) -> ImputationResult:
    r"""Borusyak, Jaravel & Spiess (2024) imputation estimator (R ``didimputation::did_imputation``).

    The untreated-outcome model :math:`Y_{it}(0) = \alpha_i + \lambda_t + X_{it}'\beta` is fitted on the untreated
    observations only; the estimand is a weighted average of the imputed effects
    :math:`\hat\tau_{it} = Y_{it} - \hat\alpha_i - \hat\lambda_t - X_{it}'\hat\beta`:

    .. math::

        \hat\tau = \frac{\sum_{t \ge G_i > 0} \omega_{it}\hat\tau_{it}}{\sum_{t \ge G_i > 0}\omega_{it}}
        \quad\text{(static ATT)},\qquad
        \hat\tau_e = \frac{\sum_{t - G_i = e} \omega_{it}\hat\tau_{it}}{\sum_{t - G_i = e}\omega_{it}}
        \quad\text{(horizon } e\text{)},

    with :math:`\omega_{it}` the observation weights (``weights``; 1 by default). See the module docstring for the
    conservative standard errors and the pre-trend regression.

    Parameters
    ----------
    data
        Long panel (need not be balanced), one row per unit and period.
    y, unit, time, group
        Outcome, unit id, integer period, and first treated period (0 or NaN = never treated) columns.
    horizon
        ``None``: static ATT. ``True``: every event time :math:`e \ge 0` in the data. A list: those horizons
        (R ``horizon = 0:3``).
    pretrends
        ``None``: no pre-trend regression. ``True``: dummies for every pre-treatment event time in the data
        (fixest then drops one as collinear). A list of negative event times: those (R ``pretrends = -3:-1``).
    covariates
        Time-varying columns of the first stage (e.g. ``lpop`` times year dummies, R's
        ``first_stage = ~ i(year, lpop, ref = 2003) | unit + year``). A covariate that is constant within units
        on the untreated observations is collinear with the unit effects and raises ``ValueError``.
    weights
        Column of observation weights :math:`\omega_{it} > 0`, used in the first stage (weighted least squares)
        and in the averages (R ``wname``).
    cluster
        Cluster column of the standard errors (default: ``unit``).
    alpha
        One minus the confidence level.
    critical
        ``"normal"`` (``didimputation``'s 1.96) or ``"t"`` (:math:`t_{G-1}`).
    unidentified
        ``"raise"`` (default): a ``ValueError`` names the units (periods) whose treated observations cannot be
        imputed because the unit (period) has no untreated observation. ``"drop"``: drop those treated
        observations with a warning that counts them.
    singletons
        ``"keep"`` (default; the BJS estimator as defined). ``"drop"``: first drop untreated observations whose
        unit or period has no other untreated observation (one pass, fixest >= 0.13's default
        ``fixef.rm = "perfect_fit"``), with a warning; combined with ``unidentified="drop"`` this reproduces
        what ``didimputation`` 0.5.0 returns with fixest 0.13.
    variance
        ``"didimputation"`` (default): the SE weights :math:`v^*` as R computes them (with ``weights`` they differ
        from the exact representation, see the module docstring). ``"exact"``: :math:`v^* = v`. Identical
        without ``weights``.

    Returns
    -------
    ImputationResult

    Examples
    --------
    Four units over four periods; unit 1 is treated from period 2, unit 2 from period 3, units 3 and 4 never.
    The untreated outcomes follow unit + period effects exactly and the effect is 1 at impact and 2 a period
    later, so the estimates are exact:

    >>> import pandas as pd
    >>> panel = pd.DataFrame({
    ...     "unit": [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4,
    ...     "period": [1, 2, 3, 4] * 4,
    ...     "first": [2] * 4 + [3] * 4 + [0] * 8,
    ...     "y": [0, 1 + 1, 2 + 2, 3 + 2,  1, 2, 3 + 1, 4 + 2,  2, 3, 4, 5,  0, 1, 2, 3],
    ... })
    >>> result = imputation(panel, y="y", unit="unit", time="period", group="first", horizon=True)
    >>> result.table[["event_time", "estimate", "n_obs"]].round(10)
       event_time  estimate  n_obs
    0           0       1.0      2
    1           1       2.0      2
    2           2       2.0      1
    >>> round(result.overall.estimate, 10), result.overall_label
    (1.6666666667, 'mean of the horizon effects e = 0..2')
    >>> print(result.effects[["unit", "time", "event_time", "tau"]].round(10).to_string(index=False))
     unit  time  event_time  tau
        1     2           0  1.0
        1     3           1  2.0
        1     4           2  2.0
        2     3           0  1.0
        2     4           1  2.0
    """
    critical = check_option("critical", critical, CRITICAL)
    unidentified = check_option("unidentified", unidentified, UNIDENTIFIED)
    singletons = check_option("singletons", singletons, SINGLETONS)
    variance = check_option("variance", variance, VARIANCES)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"imputation: data must be a pandas DataFrame, got {type(data).__name__}")
    if not 0 < alpha < 1:
        raise ValueError(f"imputation: alpha must be in (0, 1), got {alpha!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates or [])
    cluster_column = unit if cluster is None else cluster
    roles = [("y", y), ("unit", unit), ("time", time), ("group", group), ("weights", weights),
             ("cluster", cluster)] + [("covariates", c) for c in covariates]
    for role, column in roles:
        if column is not None and column not in data.columns:
            raise ValueError(f"imputation: column {column!r} ({role}=) is not in the data")
    if len(data) == 0:
        raise ValueError("imputation: data has no rows")
    for column in [y, time, group, *covariates, *([weights] if weights else [])]:
        if not pd.api.types.is_numeric_dtype(data[column]) or pd.api.types.is_bool_dtype(data[column]):
            raise ValueError(f"imputation: column {column!r} must be numeric, got dtype {data[column].dtype}")
    for column in [y, unit, time, *covariates, *([weights] if weights else []), cluster_column]:
        if data[column].isna().any():
            raise ValueError(f"imputation: column {column!r} has missing values")

    unit_all, unit_ids_all = pd.factorize(data[unit], sort=True)
    times_all = data[time].to_numpy(float)
    time_all, period_values_all = pd.factorize(times_all, sort=True)
    if np.bincount(unit_all * period_values_all.size + time_all).max() > 1:
        raise ValueError(f"imputation: columns {unit!r} and {time!r} do not identify the rows uniquely")
    g_all = np.nan_to_num(data[group].to_numpy(float), nan=0.0)
    if (g_all < 0).any():
        raise ValueError(f"imputation: column {group!r} has negative values; use 0 or NaN for never treated")
    g_unit = np.empty(unit_ids_all.size)
    g_unit[unit_all] = g_all
    varies = g_unit[unit_all] != g_all
    if varies.any():
        raise ValueError(f"imputation: column {group!r} varies within {unit!r} (e.g. {unit} "
                         f"{unit_ids_all[unit_all[np.argmax(varies)]]!r}); it must be constant per unit")
    w_all = np.ones(len(data)) if weights is None else data[weights].to_numpy(float)
    if not np.all(np.isfinite(w_all)) or (w_all <= 0).any():
        raise ValueError(f"imputation: column {weights!r} must hold positive finite weights")
    treated_all = (g_all > 0) & (times_all >= g_all)
    if not treated_all.any():
        raise ValueError(f"imputation: no treated observations ({group!r} > 0 and {time!r} >= {group!r})")
    event_all = np.where(g_all > 0, times_all - g_all, np.nan)
    finite = np.isfinite(event_all)
    if np.any(event_all[finite] != np.round(event_all[finite])):
        raise ValueError(f"imputation: {time!r} - {group!r} must be whole numbers of periods")
    available = np.unique(event_all[finite]).astype(int)
    horizons = _parse_event_times(horizon, "horizon", available, +1)
    pre_periods = _parse_event_times(pretrends, "pretrends", available, -1)

    # --- the estimation sample: singletons (optional), then treated observations that cannot be imputed ---------
    keep = np.ones(len(data), bool)
    untreated_all = ~treated_all
    n_units_all, n_times_all = unit_ids_all.size, period_values_all.size
    if singletons == "drop":
        unit_count = np.bincount(unit_all[untreated_all], minlength=n_units_all)
        time_count = np.bincount(time_all[untreated_all], minlength=n_times_all)
        single = untreated_all & ((unit_count[unit_all] == 1) | (time_count[time_all] == 1))
        if single.any():
            keep &= ~single
            warnings.warn(f"imputation: dropped {int(single.sum())} untreated observations whose unit or period "
                          f"effect rests on that observation alone (singletons='drop', as fixest >= 0.13)",
                          stacklevel=2)
    base = keep & untreated_all
    unit_ok = np.bincount(unit_all[base], minlength=n_units_all) > 0
    time_ok = np.bincount(time_all[base], minlength=n_times_all) > 0
    no_unit = treated_all & keep & ~unit_ok[unit_all]
    no_period = treated_all & keep & ~time_ok[time_all]
    not_imputable = no_unit | no_period
    if not_imputable.any():
        bad_units = unit_ids_all[np.unique(unit_all[no_unit])]
        bad_periods = period_values_all[np.unique(time_all[no_period])]
        parts = []
        if bad_units.size:
            parts.append(f"{bad_units.size} units have no untreated observation, so their unit effect is not "
                         f"identified ({unit} {_describe(bad_units)})")
        if bad_periods.size:
            parts.append(f"{bad_periods.size} periods have no untreated observation, so their period effect is not "
                         f"identified ({time} {_describe(bad_periods)})")
        detail = "; ".join(parts)
        if unidentified == "raise":
            raise ValueError(f"imputation: {int(not_imputable.sum())} treated observations cannot be imputed: "
                             f"{detail}. Pass unidentified='drop' to drop them (with a warning).")
        warnings.warn(f"imputation: dropped {int(not_imputable.sum())} of {int(treated_all.sum())} treated "
                      f"observations that cannot be imputed: {detail}", stacklevel=2)
        keep &= ~not_imputable
    n_dropped_treated = int((treated_all & ~keep).sum())
    if not (treated_all & keep).any():
        raise ValueError("imputation: no treated observation can be imputed")

    rows = np.flatnonzero(keep)
    treated = treated_all[rows]
    unit_codes, unit_index = _compact(unit_all[rows], n_units_all)
    time_codes, time_index = _compact(time_all[rows], n_times_all)
    n_units, n_times = unit_index.size, time_index.size
    g = g_all[rows]
    event = event_all[rows]
    yv = data[y].to_numpy(float)[rows]
    X = data[covariates].to_numpy(float)[rows] if covariates else None
    w = w_all[rows]
    cluster_codes, cluster_ids = pd.factorize(data[cluster_column].to_numpy()[rows], sort=True)
    n_clusters = cluster_ids.size

    # --- first stage on the untreated rows --------------------------------------------------------------------------
    untreated_rows = np.flatnonzero(~treated)
    treated_rows = np.flatnonzero(treated)
    u0, t0 = unit_codes[untreated_rows], time_codes[untreated_rows]
    n_comp, labels = connected_components(
        sparse.csr_matrix((np.ones(u0.size), (u0, n_units + t0)), shape=(n_units + n_times,) * 2), directed=False)
    if n_comp > 1:
        sizes = np.bincount(labels[:n_units], minlength=n_comp)
        raise ValueError(f"imputation: the untreated observations fall into {n_comp} disconnected sets of units "
                         f"and periods (units per set: {sizes.tolist()}); unit and period effects are not "
                         f"identified across them")
    X0 = None if X is None else X[untreated_rows]
    w0 = w[untreated_rows]
    try:
        first_stage = TwoWayLeastSquares(u0, t0, n_units=n_units, n_times=n_times, covariates=X0, weights=w0)
    except CollinearityError as error:
        raise _collinearity_message(error, covariates, X0, u0, n_times) from None

    # --- averaging weights over the treated rows (sparse: n1 x estimates), and the representation v -----------------
    n1 = treated_rows.size
    w1 = w[treated_rows]
    e1 = event[treated_rows].astype(np.int64)
    if horizons is None:
        names = ["ATT"]
        rows_w, cols_w = np.arange(n1), np.zeros(n1, np.int64)
        n_columns = 1
    else:
        names = [f"e{e}" for e in horizons]
        position = np.full(int(available.max()) + 1, -1)
        position[np.asarray(horizons)] = np.arange(len(horizons))
        column = position[e1]
        rows_w = np.flatnonzero(column >= 0)
        cols_w = column[rows_w]
        n_columns = len(horizons)
    totals = np.bincount(cols_w, w1[rows_w], n_columns)
    present = totals > 0
    vals_w = w1[rows_w] / np.where(present, totals, 1.0)[cols_w]
    if horizons is not None:
        # the overall parameter: the mean of the horizon effects present
        names.append("overall")
        rows_w = np.concatenate([rows_w, rows_w])
        cols_w = np.concatenate([cols_w, np.full(cols_w.size, n_columns)])
        vals_w = np.concatenate([vals_w, vals_w / max(int(present.sum()), 1)])
        present = np.append(present, present.any())
        n_columns += 1
    wtr = sparse.csr_matrix((vals_w, (rows_w, cols_w)), shape=(n1, n_columns))
    n_obs_rows = np.bincount(cols_w, minlength=n_columns)[: n_columns - (horizons is not None)]

    unit_incidence = sparse.csr_matrix((np.ones(n1), (unit_codes[treated_rows], np.arange(n1))), (n_units, n1))
    time_incidence = sparse.csr_matrix((np.ones(n1), (time_codes[treated_rows], np.arange(n1))), (n_times, n1))

    def representation(design: TwoWayLeastSquares, treated_weights: sparse.csr_matrix):
        """Coefficients b with v = -w0 * Z0 b on the untreated rows, b = (Z0'W Z0)^{-1} Z1' treated_weights."""
        h_x = np.zeros((0, n_columns)) if X is None else np.asarray((treated_weights.T @ X[treated_rows]).T)
        return design.solve_normal((unit_incidence @ treated_weights).toarray(),
                                   (time_incidence @ treated_weights).toarray(), h_x)

    coef = representation(first_stage, wtr)
    if variance == "didimputation" and weights is not None:
        # R: Z <- Z * w, then v* = -Z (Z0'Z0)^{-1} Z1' wtr with wtr already carrying w: the weights enter squared
        squared = TwoWayLeastSquares(u0, t0, n_units=n_units, n_times=n_times, covariates=X0, weights=w0 * w0)
        coef_se = representation(squared, sparse.csr_matrix(wtr.multiply(w1[:, None])))
    else:
        coef_se = coef

    cohort_codes = pd.factorize(g[treated_rows])[0].astype(np.int64)
    cell = pd.factorize(cohort_codes * (int(e1.max()) + 1) + e1)[0].astype(np.int64)
    design = _Design(y=yv, treated=treated, unit=unit_codes, time=time_codes, X=X, w=w, first_stage=first_stage,
                     wtr=wtr, coef=coef, coef_se=coef_se, cell=cell, cluster=cluster_codes.astype(np.int64),
                     n_clusters=n_clusters)
    residuals = design.imputation_residuals(yv)[:, 0]
    tau = residuals[treated_rows]
    scores = design.scores_all(residuals)
    estimates = np.where(present, wtr.T @ tau, np.nan)
    ses = np.where(present, np.sqrt(np.einsum("ij,ij->j", scores, scores)), np.nan)

    dof = degrees_of_freedom(critical, n_clusters)
    inference = (f"analytic, BJS conservative SE clustered by {cluster_column}"
                 + ("" if weights is None or variance == "exact" else " (didimputation's v* with weights)"))
    if horizons is None:
        table = pd.DataFrame({"term": ["ATT"], "estimate": estimates, "se": ses})
        overall_label = "static ATT over all treated observations"
    else:
        table = pd.DataFrame({"event_time": np.asarray(horizons, dtype=np.int64), "estimate": estimates[:-1],
                              "se": ses[:-1]})
        shown = [e for e, ok in zip(horizons, present[:-1]) if ok]
        contiguous = bool(shown) and shown == list(range(shown[0], shown[-1] + 1))
        overall_label = (f"mean of the horizon effects e = {shown[0]}..{shown[-1]}" if contiguous
                         else f"mean of the horizon effects {shown}")
    wald_columns(table, alpha=alpha, dof=dof)
    table["n_obs"] = n_obs_rows
    overall = Effect.from_se(estimates[-1], ses[-1], alpha=alpha, dof=dof, n_clusters=n_clusters,
                             inference=inference)

    effects = pd.DataFrame({
        "unit": data[unit].to_numpy()[rows][treated_rows], "time": data[time].to_numpy()[rows][treated_rows],
        "group": g[treated_rows], "event_time": e1, "tau": tau, "weight": w1,
    })

    pretrend_test = None
    if pre_periods is not None:
        pretrend_test = _pretrend_regression(
            data.iloc[rows[untreated_rows]], y=y, unit=unit, time=time, event=event[untreated_rows],
            pre_periods=pre_periods, covariates=covariates, weights=weights, cluster=cluster_column,
            unit_codes=u0, time_codes=t0, n_units=n_units, n_times=n_times, alpha=alpha, critical=critical)

    return ImputationResult(
        overall=overall, overall_label=overall_label, table=table, pretrends=pretrend_test, effects=effects,
        estimate_names=names, n_obs=int(rows.size), n_treated=int(n1), n_untreated=int(untreated_rows.size),
        n_units=n_units, n_periods=n_times, n_clusters=n_clusters, n_dropped_treated=n_dropped_treated,
        outcome=y, cluster=cluster_column, covariates=tuple(covariates), weights=weights, variance=variance,
        _design=design, _index=data.index[rows], _unit_values=data[unit].to_numpy()[rows],
        _time_values=data[time].to_numpy()[rows],
    )


def _compact(codes: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Recode integer codes to 0..k-1 over the levels present; returns the new codes and the old levels kept."""
    present = np.zeros(n_levels, bool)
    present[codes] = True
    new = np.cumsum(present) - 1
    return new[codes].astype(np.int64), np.flatnonzero(present)


def _collinearity_message(error: CollinearityError, covariates: list[str], X0: np.ndarray | None, u0: np.ndarray,
                          n_times: int) -> ValueError:
    """A ``ValueError`` that names the first-stage covariates behind a collinearity."""
    bad = [j - (n_times - 1) for j in error.columns if j >= n_times - 1]
    if X0 is not None:
        counts = np.bincount(u0)
        means = np.stack([np.bincount(u0, X0[:, j]) / counts for j in range(X0.shape[1])], axis=1)
        within = np.abs(X0 - means[u0]).max(axis=0) if X0.size else np.zeros(0)
        scale = np.maximum(1.0, np.abs(X0).max(axis=0)) if X0.size else np.zeros(0)
        invariant = [covariates[j] for j in bad if within[j] <= 1e-12 * scale[j]]
        if invariant:
            return ValueError(f"imputation: covariates {invariant} are constant within units on the untreated "
                              f"observations (time-invariant), so they are collinear with the unit effects; use "
                              f"time-varying covariates (e.g. interactions with period dummies)")
    if bad:
        return ValueError(f"imputation: the first-stage covariates {[covariates[j] for j in bad]} are collinear "
                          f"with the unit and period effects or with the covariates before them on the untreated "
                          f"observations")
    return ValueError("imputation: the period effects are not identified from the untreated observations")


def _pretrend_regression(frame: pd.DataFrame, *, y: str, unit: str, time: str, event: np.ndarray,
                         pre_periods: list[int], covariates: list[str], weights: str | None, cluster: str,
                         unit_codes: np.ndarray, time_codes: np.ndarray, n_units: int, n_times: int,
                         alpha: float, critical: str) -> PretrendTest:
    """``feols(y ~ i(event_time, keep = pre) + covariates | unit + time, untreated, cluster)`` and its Wald test."""
    from bijstand.did.twfe import _fit_clustered  # fixest's small-sample convention, pinned there

    frame = frame.copy()
    dummies = [f"_pre_m{-e}" for e in pre_periods]
    for e, column in zip(pre_periods, dummies):
        frame[column] = (event == e).astype(float)
    present = [c for c in dummies if frame[c].any()]
    regressors = present + covariates
    w = None if weights is None else frame[weights].to_numpy(float)
    # fixest drops, in formula order, regressors collinear with the fixed effects and the regressors before them
    design = frame[regressors].to_numpy(float)
    gram = _within_gram(unit_codes, time_codes, n_units, n_times, design, w)
    raw = (design * design * (1.0 if w is None else w[:, None])).sum(axis=0)
    pivots = _sequential_pivots(gram, raw)
    kept = [c for c, p in zip(regressors, pivots) if p > COLLINEARITY_TOL]
    dropped_covariates = [c for c in covariates if c not in kept]
    if dropped_covariates:
        raise ValueError(f"imputation: covariates {dropped_covariates} are collinear in the pre-trend regression")
    kept_dummies = [c for c in present if c in kept]
    if not kept_dummies:
        raise ValueError(f"imputation: every pre-trend dummy {pre_periods} is collinear with the fixed effects")
    fit = _fit_clustered(frame, y=y, regressors=kept, unit=unit, time=time, cluster=cluster, weights=weights,
                         convention="fixest")
    coef = fit.params[kept_dummies].to_numpy(float)
    vcov = fit.vcov.loc[kept_dummies, kept_dummies].to_numpy(float)
    event_times = [pre_periods[dummies.index(c)] for c in kept_dummies]
    dof = degrees_of_freedom(critical, fit.n_clusters)
    table = pd.DataFrame({"event_time": event_times, "estimate": coef, "se": np.sqrt(np.diag(vcov))})
    wald_columns(table, alpha=alpha, dof=dof)
    q = len(kept_dummies)
    wald = float(coef @ np.linalg.solve(vcov, coef))
    df_denom = fit.n_clusters - 1
    vcov_frame = pd.DataFrame(vcov, index=event_times, columns=event_times)
    vcov_frame.index.name = vcov_frame.columns.name = "event_time"
    return PretrendTest(
        table=table, dropped=tuple(pre_periods[dummies.index(c)] for c in dummies if c not in kept_dummies),
        vcov=vcov_frame, statistic=wald / q, df_num=q, df_denom=df_denom,
        p_value=float(stats.f.sf(wald / q, q, df_denom)), chi2_p_value=float(stats.chi2.sf(wald, q)),
        n_obs=fit.n_obs, n_clusters=fit.n_clusters,
    )


def _within_gram(unit: np.ndarray, time: np.ndarray, n_units: int, n_times: int, design: np.ndarray,
                 weights: np.ndarray | None) -> np.ndarray:
    """Gram matrix of the columns of ``design`` after (weighted) projection on unit and period effects."""
    fe = TwoWayLeastSquares(unit, time, n_units=n_units, n_times=n_times, weights=weights)
    resid = fe.residuals(design)
    w = fe.w
    return resid.T @ (resid * w[:, None])
