r"""Rambachan & Roth (2023) "HonestDiD" sensitivity of an event-study effect to parallel-trends violations.

For an event study :math:`\hat\beta = (\hat\beta_{pre}, \hat\beta_{post})` with covariance
:math:`\Sigma` (reference period excluded) and target :math:`\theta = l'\tau_{post}`, the confidence sets stay
valid when the differential trend :math:`\delta` is only known to lie in

- relative magnitudes :math:`\Delta^{RM}(\bar M)`: every post-treatment change
  :math:`|\delta_{t+1} - \delta_t|` is at most :math:`\bar M` times the largest pre-treatment change
  (method C-LF, conditional least-favourable hybrid);
- smoothness :math:`\Delta^{SD}(M)`: every second difference :math:`|\delta_{t+1} - 2\delta_t + \delta_{t-1}|
  \le M` (method FLCI, fixed-length CI).

The target :math:`l` (``l_vec``) is the effect on impact (``"first"``, :math:`l = e_1`, R's default), the
average over the post-treatment event times :math:`e = 0..E` (``"average"``, :math:`l = \mathbf 1/(E+1)`, the
parameter a paper usually interprets), one event time (``e=k``) or any weight vector.

The computation is delegated to ``moderndid`` (its HonestDiD port is measured to reproduce R
``HonestDiD`` 0.2.6 on ``mpdta``, for :math:`e = 0` and for the average; see ``tests/test_honest_reference.py``);
this module pins R's defaults where moderndid's differ:

- relative magnitudes: R tests a grid of candidate values on :math:`[-20\,sd_\theta, 20\,sd_\theta]` with
  :math:`sd_\theta = \sqrt{l'\Sigma_{post} l}` (``computeConditionalCS_DeltaRM``'s default bounds); moderndid
  centres its own grid elsewhere. With R's grid the bounds are the same grid points as R's. The number of grid
  points is 100 here (HonestDiD's README wrapper ``honest_did`` passes ``gridPoints = 100``; R's own default is
  1000).
- smoothness: R's default ``M`` grid (10 values from 0) is also moderndid's. R computes the
  folded-normal critical value by simulation (10^6 draws), moderndid exactly, so FLCI bounds differ
  from R by R's Monte-Carlo error (see ``tests/test_honest_reference.py``).

:func:`breakdown_value` finds the smallest :math:`\bar M` (or :math:`M`) at which the robust set includes 0 by
bisection, testing :math:`\theta = 0` directly instead of reading a grid.

Runtime dependency: ``moderndid[didhonest]`` (``cvxpy`` and ``highspy >= 1.13``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bijstand.did.results import Effect, ResultMixin, check_option, format_table, glance_frame, summary_text

Method = Literal["relative_magnitude", "smoothness"]
METHODS: tuple[str, ...] = ("relative_magnitude", "smoothness")
Target = Literal["first", "average"]

#: Number of grid points R's HonestDiD README wrapper uses for the relative-magnitudes test inversion.
R_GRID_POINTS = 100
#: Half-width of R's default relative-magnitudes grid, in standard deviations of :math:`l'\hat\beta_{post}`.
R_GRID_HALF_WIDTH_SD = 20.0
#: Default largest :math:`\bar M` the breakdown search tries.
BREAKDOWN_MAX_MBAR = 10.0
#: Default relative tolerance of the breakdown bisection (of the search range).
BREAKDOWN_RTOL = 1e-5

_PARAMETER = {"relative_magnitude": "mbar", "smoothness": "m"}


def _moderndid():
    from bijstand.extras import extra_required

    with extra_required("honest", "HonestDiD sensitivity (bijstand.did.honest; moderndid[didhonest]: cvxpy, "
                                  "highspy >= 1.13)"):
        import moderndid
        from moderndid import construct_original_cs  # noqa: F401  (triggers the didhonest import check)
    return moderndid


def target_vector(l_vec: Target | Sequence[float] | np.ndarray | None, num_post: int, *, e: int | None = None
                  ) -> np.ndarray:
    r"""The weights :math:`l` of :math:`\theta = l'\tau_{post}` over the ``num_post`` post-treatment event times.

    ``"first"`` (:math:`e_1`, R's default), ``"average"`` (:math:`\mathbf 1/E`), a vector of length ``num_post``,
    or ``None`` with ``e`` (the unit vector of event time ``e``; ``None`` and no ``e`` mean ``"first"``).
    """
    if e is not None:
        if l_vec is not None and not (isinstance(l_vec, str) and l_vec == "first"):
            raise ValueError("give either e= or l_vec=, not both")
        if not 0 <= e < num_post:
            raise ValueError(f"e={e} must be between 0 and num_post - 1 = {num_post - 1}")
        vector = np.zeros(num_post)
        vector[e] = 1.0
        return vector
    if l_vec is None:
        l_vec = "first"
    if isinstance(l_vec, str):
        l_vec = check_option("l_vec", l_vec, ("first", "average"))
        return np.eye(num_post)[0] if l_vec == "first" else np.full(num_post, 1.0 / num_post)
    vector = np.asarray(l_vec, dtype=float).reshape(-1)
    if vector.size != num_post:
        raise ValueError(f"l_vec has {vector.size} entries but there are {num_post} post-treatment event times")
    if not np.isfinite(vector).all() or not np.any(vector != 0):
        raise ValueError("l_vec must be finite and not all zero")
    return vector


def _check_inputs(betahat, sigma, num_pre: int, num_post: int) -> tuple[np.ndarray, np.ndarray]:
    betahat = np.asarray(betahat, dtype=float).reshape(-1)
    sigma = np.asarray(sigma, dtype=float)
    if num_pre < 1 or num_post < 1:
        raise ValueError(f"num_pre and num_post must be at least 1, got {num_pre} and {num_post}")
    if betahat.size != num_pre + num_post:
        raise ValueError(f"betahat has {betahat.size} entries but num_pre + num_post = {num_pre + num_post}")
    if sigma.shape != (betahat.size, betahat.size):
        raise ValueError(f"sigma must be {betahat.size} x {betahat.size}, got {sigma.shape}")
    if not np.allclose(sigma, sigma.T, rtol=1e-8, atol=1e-14):
        raise ValueError("sigma is not symmetric")
    if not np.isfinite(betahat).all() or not np.isfinite(sigma).all():
        raise ValueError("betahat and sigma must be finite")
    return betahat, sigma


def _sd_theta(sigma: np.ndarray, l_vec: np.ndarray, num_pre: int) -> float:
    post = slice(num_pre, num_pre + l_vec.size)
    return float(np.sqrt(l_vec @ sigma[post, post] @ l_vec))


def _original_effect(betahat, sigma, num_pre, l_vec, alpha) -> Effect:
    """The conventional interval for :math:`l'\\beta_{post}` under exact parallel trends (R ``constructOriginalCS``)."""
    estimate = float(l_vec @ betahat[num_pre:])
    return Effect.from_se(estimate, _sd_theta(sigma, l_vec, num_pre), alpha=alpha,
                          inference="normal, under exact parallel trends")


@dataclass(frozen=True)
class Breakdown:
    """Result of :func:`breakdown_value`: the smallest restriction size at which the robust set includes 0.

    Attributes
    ----------
    value
        The breakdown value: ``0.0`` when the original interval (or the robust set at 0) already includes 0,
        ``inf`` when no value up to ``search_max`` makes the robust set include 0, else the smallest value known to
        include 0 (the upper end of the final bisection bracket, within ``tol`` of the breakdown).
    status
        ``"found"``, ``"original_includes_zero"``, ``"includes_zero_at_zero"`` (the original interval excludes
        0 but the robust set at :math:`\\bar M = 0` / :math:`M = 0` does not) or ``"not_reached"``.
    parameter
        ``"mbar"`` (relative magnitudes) or ``"m"`` (smoothness).
    lower, upper
        The final bracket: ``lower`` excludes 0 (NaN if none was evaluated), ``upper`` includes it (``inf`` if
        none did).
    tol
        Absolute tolerance of the bisection: ``upper - lower <= tol`` on return when ``status == "found"``.
    search_max
        The largest value tried.
    n_evaluations
        Robust sets computed.
    """

    value: float
    status: str
    parameter: str
    lower: float
    upper: float
    tol: float
    search_max: float
    n_evaluations: int

    @property
    def found(self) -> bool:
        """Whether a finite breakdown value was bracketed by the search (``status == "found"``)."""
        return self.status == "found"

    def __str__(self) -> str:
        name = "M-bar" if self.parameter == "mbar" else "M"
        if self.status == "original_includes_zero":
            return f"breakdown {name} = 0 (the original confidence interval already includes 0)"
        if self.status == "includes_zero_at_zero":
            return f"breakdown {name} = 0 (the robust set at {name} = 0 already includes 0)"
        if self.status == "not_reached":
            return f"breakdown {name} > {self.search_max:g} (no value searched makes the robust set include 0)"
        return f"breakdown {name} = {self.value:.6g} (in ({self.lower:.6g}, {self.upper:.6g}], tolerance {self.tol:.2g})"


def _includes_zero_rm(betahat, sigma, num_pre, num_post, l_vec, alpha) -> Callable[[float], bool]:
    """Whether the C-LF test accepts :math:`\\theta = 0` under :math:`\\Delta^{RM}(\\bar M)` (no grid)."""
    moderndid = _moderndid()
    # three points symmetric around 0: the middle one is exactly 0 (a one-point grid has no spacing)
    half = 1e-9 * max(_sd_theta(sigma, l_vec, num_pre), 1e-300)

    def includes(mbar: float) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = moderndid.compute_conditional_cs_rm(betahat, sigma, num_pre, num_post, l_vec=l_vec,
                                                         m_bar=float(mbar), alpha=alpha, hybrid_flag="LF",
                                                         grid_points=3, grid_lb=-half, grid_ub=half)
        grid, accept = np.asarray(result["grid"]), np.asarray(result["accept"])
        if grid[1] != 0.0:  # pragma: no cover - linspace(-h, h, 3) has an exact 0 in the middle
            raise RuntimeError(f"the test grid's middle point is {grid[1]!r}, not 0")
        return bool(accept[1] > 0)

    return includes


def _flci(betahat, sigma, num_pre, num_post, l_vec, alpha, m: float) -> tuple[float, float]:
    compute_flci = _moderndid().didhonest.fixed_length_ci.compute_flci

    result = compute_flci(betahat, sigma, float(m), num_pre, num_post, post_period_weights=l_vec, alpha=alpha)
    return float(result.flci[0]), float(result.flci[1])


def _default_m_grid(betahat, sigma, num_pre, alpha=0.05) -> np.ndarray:
    """R's default ``Mvec``: 10 values from 0 to ``DeltaSD_upperBound_Mpre`` (one pre-period: to its SD)."""
    if num_pre == 1:
        return np.linspace(0, np.sqrt(sigma[0, 0]), 10)
    compute_delta_sd_upperbound_m = _moderndid().didhonest.sensitivity.compute_delta_sd_upperbound_m

    return np.linspace(0, compute_delta_sd_upperbound_m(betahat=betahat, sigma=sigma, num_pre_periods=num_pre,
                                                        alpha=alpha), 10)


def breakdown_value(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    *,
    num_pre: int,
    num_post: int,
    method: Method = "relative_magnitude",
    l_vec: Target | Sequence[float] | np.ndarray | None = None,
    e: int | None = None,
    alpha: float = 0.05,
    search_max: float | None = None,
    tol: float | None = None,
    max_iter: int = 200,
) -> Breakdown:
    r"""Smallest :math:`\bar M` (or :math:`M`) at which the robust confidence set for :math:`\theta` includes 0.

    Continuous search, not a grid maximum: after checking the original interval, the robust set at 0 and at
    ``search_max``, the bracket :math:`(\bar M_{lo}, \bar M_{hi}]` (the first excludes 0, the second includes it)
    is halved until :math:`\bar M_{hi} - \bar M_{lo} \le` ``tol``. For relative magnitudes each step tests
    :math:`\theta = 0` with the C-LF test under :math:`\Delta^{RM}(\bar M)` directly (no test-inversion grid); for
    smoothness it computes the FLCI at :math:`M`. The robust sets grow with :math:`\bar M` (the restriction sets are
    nested), which bisection assumes.

    Parameters
    ----------
    betahat, sigma, num_pre, num_post
        As in :func:`honest_sensitivity`.
    method
        ``"relative_magnitude"`` (C-LF) or ``"smoothness"`` (FLCI).
    l_vec, e
        The target: ``"first"`` (default), ``"average"``, a weight vector, or ``e=k`` (see :func:`target_vector`).
    alpha
        1 - coverage.
    search_max
        Largest value tried: default :data:`BREAKDOWN_MAX_MBAR` (10) for :math:`\bar M`; for :math:`M`, ten times
        the largest value of R's default ``M`` grid.
    tol
        Absolute tolerance of the bisection; default :data:`BREAKDOWN_RTOL` × ``search_max``.
    max_iter
        Bisection steps at most.

    Returns
    -------
    Breakdown
        ``value`` with an explicit ``status``: ``0`` (``"original_includes_zero"`` / ``"includes_zero_at_zero"``),
        ``inf`` (``"not_reached"``) or the breakdown value (``"found"``).
    """
    betahat, sigma = _check_inputs(betahat, sigma, num_pre, num_post)
    method = check_option("method", method, METHODS)
    weights = target_vector(l_vec, num_post, e=e)
    moderndid = _moderndid()
    if method == "relative_magnitude":
        includes = _includes_zero_rm(betahat, sigma, num_pre, num_post, weights, alpha)
        search_max = BREAKDOWN_MAX_MBAR if search_max is None else float(search_max)
    else:
        def includes(m: float) -> bool:
            lower, upper = _flci(betahat, sigma, num_pre, num_post, weights, alpha, m)
            return lower <= 0.0 <= upper

        if search_max is None:
            search_max = 10.0 * float(_default_m_grid(betahat, sigma, num_pre)[-1])
    if not search_max > 0:
        raise ValueError(f"search_max must be positive, got {search_max}")
    tol = BREAKDOWN_RTOL * search_max if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    parameter = _PARAMETER[method]

    def result(value, status, lower, upper, n):
        return Breakdown(value=float(value), status=status, parameter=parameter, lower=float(lower),
                         upper=float(upper), tol=tol, search_max=search_max, n_evaluations=n)

    original = moderndid.construct_original_cs(betahat, sigma, num_pre, num_post, l_vec=weights, alpha=alpha)
    if float(original.lb) <= 0.0 <= float(original.ub):
        return result(0.0, "original_includes_zero", np.nan, 0.0, 0)
    if includes(0.0):
        return result(0.0, "includes_zero_at_zero", np.nan, 0.0, 1)
    if not includes(search_max):
        return result(np.inf, "not_reached", search_max, np.inf, 2)
    lower, upper, n = 0.0, search_max, 2
    while upper - lower > tol and n - 2 < max_iter:
        middle = 0.5 * (lower + upper)
        n += 1
        if includes(middle):
            upper = middle
        else:
            lower = middle
    return result(upper, "found", lower, upper, n)


@dataclass(frozen=True)
class HonestResult(ResultMixin):
    """Sensitivity result.

    Attributes
    ----------
    overall : Effect
        The conventional estimate of :math:`\\theta = l'\\beta_{post}` and its normal interval under exact parallel
        trends (R ``constructOriginalCS``).
    robust : pandas.DataFrame
        One row per restriction size: ``method`` (``"C-LF"`` or ``"FLCI"``), ``delta`` (``"DeltaRM"`` /
        ``"DeltaSD"``), ``mbar`` (relative magnitudes) or ``m`` (smoothness), ``ci_lower, ci_upper`` and
        ``at_grid_edge``: the robust set reaches an end of R's test-inversion grid (:math:`\\pm 20\\,sd_\\theta`), so
        that bound is the grid's end, not a bound of the set (R reports such rows without a flag; moderndid warns).
    method : str
        ``"relative_magnitude"`` or ``"smoothness"``.
    l_vec : numpy.ndarray
        The target weights over the post-treatment event times.
    grid_step : float
        Spacing of the test-inversion grid (relative magnitudes; the resolution of ``robust``'s
        bounds), NaN for the FLCI, which is not gridded.
    betahat, sigma, num_pre, num_post, alpha
        The inputs (for :meth:`breakdown`).
    """

    overall: Effect
    robust: pd.DataFrame
    method: str
    l_vec: np.ndarray = field(repr=False)
    grid_step: float
    betahat: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    num_pre: int
    num_post: int
    alpha: float

    @property
    def parameter(self) -> str:
        """Column of the restriction size: ``"mbar"`` or ``"m"``."""
        return _PARAMETER[self.method]

    @property
    def original(self) -> pd.DataFrame:
        """The conventional interval as a row of ``table`` (``method = "Original"``)."""
        return pd.DataFrame({"method": ["Original"], "delta": [None], self.parameter: [np.nan],
                             "ci_lower": [self.overall.ci_lower], "ci_upper": [self.overall.ci_upper],
                             "at_grid_edge": [False]})

    @property
    def table(self) -> pd.DataFrame:
        """``original`` followed by ``robust`` (as R's ``createSensitivityPlot`` combines them):
        ``method, delta, mbar|m, ci_lower, ci_upper, at_grid_edge``."""
        return pd.concat([self.original, self.robust], ignore_index=True)

    def breakdown(self, **kwargs) -> Breakdown:
        """:func:`breakdown_value` for the same inputs, target and method (keyword arguments passed on)."""
        return breakdown_value(self.betahat, self.sigma, num_pre=self.num_pre, num_post=self.num_post,
                               method=self.method, l_vec=self.l_vec, alpha=self.alpha, **kwargs)

    def summary(self) -> str:
        """Printable summary: target, restriction, original interval and robust sets."""
        weights = ", ".join(f"{w:.4g}" for w in self.l_vec)
        restriction = ("relative magnitudes Delta^RM(Mbar), C-LF" if self.method == "relative_magnitude"
                       else "smoothness Delta^SD(M), FLCI")
        header = [("Estimator", "Rambachan & Roth (2023) sensitivity (HonestDiD)"),
                  ("Target", f"theta = l' beta_post, l = ({weights})"), ("Restriction", restriction),
                  ("Pre / post periods", f"{self.num_pre} / {self.num_post}"),
                  ("Grid step", None if np.isnan(self.grid_step) else f"{self.grid_step:.4g}"),
                  ("Coverage", f"{100 * (1 - self.alpha):g}%")]
        text = summary_text(title="HonestDiD sensitivity analysis", header=header, overall=self.overall,
                            overall_label="Original (exact parallel trends)", stars="p")
        return text + "\n\nRobust confidence sets:\n" + format_table(self.robust, stars=None)

    def glance(self) -> pd.DataFrame:
        """One row: method, target weights, num_pre, num_post, alpha, grid_step, original interval."""
        return glance_frame(estimator="honest_sensitivity", method=self.method,
                            l_vec=" ".join(f"{w:.6g}" for w in self.l_vec), num_pre=self.num_pre,
                            num_post=self.num_post, alpha=self.alpha, grid_step=self.grid_step,
                            estimate=self.overall.estimate, ci_lower=self.overall.ci_lower,
                            ci_upper=self.overall.ci_upper)


def honest_sensitivity(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    *,
    num_pre: int,
    num_post: int,
    method: Method = "relative_magnitude",
    mbar: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    m_grid: Sequence[float] | None = None,
    l_vec: Target | Sequence[float] | np.ndarray | None = None,
    e: int | None = None,
    alpha: float = 0.05,
    grid_points: int = R_GRID_POINTS,
) -> HonestResult:
    """Robust confidence sets for :math:`\\theta = l'\\tau_{post}` (default: the effect on impact, e = 0).

    Parameters
    ----------
    betahat : array of shape (num_pre + num_post,)
        Event-study coefficients ordered by event time, the reference period (normalised to 0) left out:
        ``num_pre`` pre-treatment coefficients, then ``num_post`` coefficients for ``e = 0, 1, ...``.
    sigma : array of shape (len(betahat), len(betahat))
        Their covariance matrix.
    num_pre, num_post : int
        Numbers of pre- and post-treatment coefficients.
    method : {"relative_magnitude", "smoothness"}
        Restriction :math:`\\Delta^{RM}(\\bar M)` (C-LF intervals) or :math:`\\Delta^{SD}(M)` (FLCI).
    mbar : sequence of float
        :math:`\\bar M` values for relative magnitudes.
    m_grid : sequence of float, optional
        ``M`` values for smoothness; default R's data-driven grid of 10 values from 0.
    l_vec : {"first", "average"} or array of shape (num_post,), optional
        The target (see :func:`target_vector`): ``"first"`` (default, R's), ``"average"`` over the post-treatment
        event times, or weights.
    e : int, optional
        Target one post-treatment event time instead (0 = effect on impact); not together with ``l_vec``.
    alpha : float
        1 - coverage.
    grid_points : int
        Size of R's test-inversion grid for relative magnitudes (default 100, as R's README wrapper; R's
        ``createSensitivityResults_relativeMagnitudes`` default is 1000).

    Returns
    -------
    HonestResult
    """
    betahat, sigma = _check_inputs(betahat, sigma, num_pre, num_post)
    method = check_option("method", method, METHODS)
    weights = target_vector(l_vec, num_post, e=e)
    moderndid = _moderndid()
    overall = _original_effect(betahat, sigma, num_pre, weights, alpha)

    if method == "relative_magnitude":
        mbar_values = np.asarray(mbar, dtype=float)
        if mbar_values.size == 0 or (mbar_values < 0).any():
            raise ValueError("mbar must be a non-empty sequence of non-negative numbers")
        sd_theta = _sd_theta(sigma, weights, num_pre)
        grid_lb, grid_ub = -R_GRID_HALF_WIDTH_SD * sd_theta, R_GRID_HALF_WIDTH_SD * sd_theta
        with warnings.catch_warnings():
            # moderndid warns when the accepted set reaches an end of the grid; recorded in `at_grid_edge` instead
            warnings.filterwarnings("ignore", message="CI is open at one of the endpoints")
            robust = moderndid.create_sensitivity_results_rm(
                betahat, sigma, num_pre, num_post, method="C-LF", m_bar_vec=mbar_values, l_vec=weights,
                alpha=alpha, grid_points=grid_points, grid_lb=grid_lb, grid_ub=grid_ub,
            )
        robust = robust.to_pandas().rename(columns={"Mbar": "mbar", "m_bar": "mbar"})
        grid_step = (grid_ub - grid_lb) / (grid_points - 1)
        robust["at_grid_edge"] = ((robust["lb"] <= grid_lb + grid_step / 2)
                                  | (robust["ub"] >= grid_ub - grid_step / 2))
    else:
        m_values = None if m_grid is None else np.asarray(m_grid, dtype=float)
        if m_values is not None and (m_values.size == 0 or (m_values < 0).any()):
            raise ValueError("m_grid must be a non-empty sequence of non-negative numbers")
        robust = moderndid.create_sensitivity_results_sm(
            betahat, sigma, num_pre, num_post, method="FLCI", m_vec=m_values, l_vec=weights, alpha=alpha,
        )
        robust = robust.to_pandas()
        grid_step = float("nan")
    robust = robust.rename(columns={"lb": "ci_lower", "ub": "ci_upper"})
    if "at_grid_edge" not in robust:
        robust["at_grid_edge"] = False        # the FLCI is not gridded
    robust = robust[["method", "delta", _PARAMETER[method], "ci_lower", "ci_upper", "at_grid_edge"]]
    robust = robust.reset_index(drop=True)
    return HonestResult(overall=overall, robust=robust, method=method, l_vec=weights, grid_step=float(grid_step),
                        betahat=betahat, sigma=sigma, num_pre=num_pre, num_post=num_post, alpha=alpha)


def _event_study_inputs(event, vcov, influence, estimate: str, event_time: str, reference: int
                        ) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
    """Table, vcov and influence of a DataFrame or an event-study result object."""
    if isinstance(event, pd.DataFrame):
        return event, vcov, influence
    table = getattr(event, "table", None)
    if table is None:
        raise ValueError(f"expected an event-study table or result, got {type(event).__name__}")
    if vcov is None and influence is None:
        if getattr(event, "influence_table", None) is not None:       # Callaway-Sant'Anna dynamic aggregation
            if getattr(event, "kind", "dynamic") != "dynamic":
                raise ValueError(f"honest_from_event_study needs a dynamic aggregation, got kind={event.kind!r}")
            influence = event.influence_table
        elif getattr(event, "vcov", None) is not None:                 # TWFE event study, Sun-Abraham
            vcov_frame = event.vcov
            times = table[event_time].to_numpy()
            keep = times != reference
            vcov = vcov_frame.loc[times[keep], times[keep]].to_numpy()
    return table, vcov, influence


def honest_from_event_study(
    event,
    *,
    vcov: np.ndarray | None = None,
    influence: np.ndarray | None = None,
    l_vec: Target | Sequence[float] | np.ndarray | None = None,
    estimate: str = "estimate",
    event_time: str = "event_time",
    reference: int = -1,
    **kwargs,
) -> HonestResult:
    """:func:`honest_sensitivity` for an event study (e.g. a Callaway–Sant'Anna dynamic aggregation).

    Parameters
    ----------
    event : pandas.DataFrame or event-study result
        A table with one row per event time (columns ``event_time`` and ``estimate``), or an
        :class:`~bijstand.did.aggte.AggregateResult` of kind ``"dynamic"`` (its influence functions give
        :math:`\\Sigma`), an :class:`~bijstand.did.twfe.EventStudyResult` or a
        :class:`~bijstand.did.sunab.SunAbrahamResult` (their ``vcov``). A row for ``reference`` may be present
        (its estimate must be 0: HonestDiD needs a universal base period) and is dropped; without it, the event
        times must be consecutive apart from the reference period.
    vcov : array, optional
        Covariance of the table's estimates, rows in the table's order (with or without the reference row).
    influence : array of shape (n, n_event_times), optional
        Influence functions instead of ``vcov``: :math:`\\Sigma = \\psi'\\psi / n^2` (``did``'s convention).
    l_vec : {"first", "average"} or array, optional
        The target over the post-treatment event times (see :func:`target_vector`): ``"first"`` (default), the
        ``"average"`` over :math:`e = 0..E`, or weights. ``e=k`` (in ``kwargs``) targets one event time.
    estimate, event_time : str
        Column names.
    reference : int
        Reference event time.
    **kwargs
        Passed to :func:`honest_sensitivity` (``method``, ``mbar``, ``m_grid``, ``e``, ``alpha``, ...).

    Returns
    -------
    HonestResult
    """
    table, vcov, influence = _event_study_inputs(event, vcov, influence, estimate, event_time, reference)
    for column in (event_time, estimate):
        if column not in table.columns:
            raise ValueError(f"column {column!r} is not in the event-study table")
    if (vcov is None) == (influence is None):
        raise ValueError("give exactly one of vcov= and influence=")
    times = table[event_time].to_numpy()
    with_reference = np.sort(np.append(times, reference)) if reference not in times else times
    if (np.diff(with_reference) != 1).any() or (np.diff(times) <= 0).any():
        raise ValueError(f"column {event_time!r} must hold consecutive, increasing event times")
    if influence is not None:
        influence = np.asarray(influence, dtype=float)
        if influence.ndim != 2 or influence.shape[1] != len(table):
            raise ValueError(f"influence must have one column per row of the table ({len(table)})")
        vcov = influence.T @ influence / influence.shape[0] ** 2
    vcov = np.asarray(vcov, dtype=float)
    keep = times != reference
    if vcov.shape == (len(table), len(table)):
        vcov = vcov[np.ix_(keep, keep)]
    elif vcov.shape != (keep.sum(), keep.sum()):
        raise ValueError(f"vcov must be {len(table)} x {len(table)} or {keep.sum()} x {keep.sum()}, got {vcov.shape}")
    if (~keep).any() and abs(float(table.loc[~keep, estimate].iloc[0])) > 1e-12:
        raise ValueError(f"the estimate at the reference event time {reference} is not 0: "
                         "HonestDiD needs an event study with a universal base period")
    kept_times = times[keep]
    num_pre = int((kept_times < reference).sum())
    num_post = int((kept_times > reference).sum())
    return honest_sensitivity(table.loc[keep, estimate].to_numpy(dtype=float), vcov, num_pre=num_pre,
                              num_post=num_post, l_vec=l_vec, **kwargs)
