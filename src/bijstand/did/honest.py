"""Rambachan & Roth (2023) "HonestDiD" sensitivity of an event-study effect to parallel-trends violations.

For an event study :math:`\\hat\\beta = (\\hat\\beta_{pre}, \\hat\\beta_{post})` with covariance
:math:`\\Sigma` (reference period excluded) and target :math:`\\theta = l'\\tau_{post}` (here the effect
``e`` periods after treatment, :math:`l = \\mathbf 1_{e+1}`), the confidence sets stay valid when the
differential trend :math:`\\delta` is only known to lie in

- relative magnitudes :math:`\\Delta^{RM}(\\bar M)`: every post-treatment change
  :math:`|\\delta_{t+1} - \\delta_t|` is at most :math:`\\bar M` times the largest pre-treatment change
  (method C-LF, conditional least-favourable hybrid);
- smoothness :math:`\\Delta^{SD}(M)`: every second difference :math:`|\\delta_{t+1} - 2\\delta_t + \\delta_{t-1}|
  \\le M` (method FLCI, fixed-length CI).

The computation is delegated to ``moderndid`` (its HonestDiD port is measured to reproduce R
``HonestDiD`` 0.2.6 on ``mpdta``); this module pins R's defaults where moderndid's differ:

- relative magnitudes: R tests a grid of ``grid_points = 100`` candidate values on
  :math:`[-20\\,sd_\\theta, 20\\,sd_\\theta]` with :math:`sd_\\theta = \\sqrt{l'\\Sigma_{post} l}` (the grid of
  HonestDiD's README wrapper ``honest_did`` for ``did`` output); moderndid centres its own grid
  elsewhere. With R's grid the bounds are the same grid points as R's.
- smoothness: R's default ``M`` grid (10 values from 0) is also moderndid's. R computes the
  folded-normal critical value by simulation (10^6 draws), moderndid exactly, so FLCI bounds differ
  from R by R's Monte-Carlo error (see ``tests/test_honest_reference.py``).

Runtime dependency: ``moderndid[didhonest]`` (``cvxpy`` and ``highspy >= 1.13``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Method = Literal["relative_magnitude", "smoothness"]

#: Number of grid points R's HonestDiD README wrapper uses for the relative-magnitudes test inversion.
R_GRID_POINTS = 100
#: Half-width of R's default relative-magnitudes grid, in standard deviations of :math:`l'\\hat\\beta_{post}`.
R_GRID_HALF_WIDTH_SD = 20.0


@dataclass(frozen=True)
class HonestResult:
    """Sensitivity result.

    Attributes
    ----------
    robust : pandas.DataFrame
        One row per restriction size: ``lb, ub, method, delta`` and ``Mbar`` (relative magnitudes) or
        ``M`` (smoothness).
    original : pandas.DataFrame
        One row: the conventional CI for :math:`\\theta` under exact parallel trends (``method="Original"``).
    grid_step : float
        Spacing of the test-inversion grid (relative magnitudes; the resolution of ``robust``'s
        bounds), NaN for the FLCI, which is not gridded.
    """

    robust: pd.DataFrame
    original: pd.DataFrame
    grid_step: float

    @property
    def table(self) -> pd.DataFrame:
        """``original`` followed by ``robust`` in one frame (as R's ``createSensitivityPlot`` combines them)."""
        return pd.concat([self.original, self.robust], ignore_index=True)


def _moderndid():
    from bijstand.extras import extra_required

    with extra_required("honest", "HonestDiD sensitivity (bijstand.did.honest; moderndid[didhonest]: cvxpy, "
                                  "highspy >= 1.13)"):
        import moderndid
        from moderndid import construct_original_cs  # noqa: F401  (triggers the didhonest import check)
    return moderndid


def _check_inputs(betahat, sigma, num_pre: int, num_post: int, e: int) -> tuple[np.ndarray, np.ndarray]:
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
    if not 0 <= e < num_post:
        raise ValueError(f"e={e} must be between 0 and num_post - 1 = {num_post - 1}")
    return betahat, sigma


def honest_sensitivity(
    betahat: Sequence[float] | np.ndarray,
    sigma: np.ndarray,
    *,
    num_pre: int,
    num_post: int,
    method: Method = "relative_magnitude",
    mbar: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    m_grid: Sequence[float] | None = None,
    e: int = 0,
    alpha: float = 0.05,
    grid_points: int = R_GRID_POINTS,
) -> HonestResult:
    """Robust confidence sets for the event-study effect at event time ``e``.

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
    e : int
        Target post-treatment event time (0 = effect on impact).
    alpha : float
        1 - coverage.
    grid_points : int
        Size of R's test-inversion grid for relative magnitudes (default 100, as R's README wrapper).

    Returns
    -------
    HonestResult
    """
    betahat, sigma = _check_inputs(betahat, sigma, num_pre, num_post, e)
    if method not in ("relative_magnitude", "smoothness"):
        raise ValueError(f"method must be 'relative_magnitude' or 'smoothness', got {method!r}")
    moderndid = _moderndid()
    l_vec = np.zeros(num_post)
    l_vec[e] = 1.0

    original_cs = moderndid.construct_original_cs(betahat, sigma, num_pre, num_post, l_vec=l_vec, alpha=alpha)
    original = pd.DataFrame({"lb": [float(original_cs.lb)], "ub": [float(original_cs.ub)], "method": ["Original"],
                             "delta": [None]})

    if method == "relative_magnitude":
        mbar_values = np.asarray(mbar, dtype=float)
        if mbar_values.size == 0 or (mbar_values < 0).any():
            raise ValueError("mbar must be a non-empty sequence of non-negative numbers")
        post = slice(num_pre, num_pre + num_post)
        sd_theta = float(np.sqrt(l_vec @ sigma[post, post] @ l_vec))
        grid_lb, grid_ub = -R_GRID_HALF_WIDTH_SD * sd_theta, R_GRID_HALF_WIDTH_SD * sd_theta
        robust = moderndid.create_sensitivity_results_rm(
            betahat, sigma, num_pre, num_post, method="C-LF", m_bar_vec=mbar_values, l_vec=l_vec, alpha=alpha,
            grid_points=grid_points, grid_lb=grid_lb, grid_ub=grid_ub,
        )
        robust = robust.to_pandas().rename(columns={"m_bar": "Mbar"})
        grid_step = (grid_ub - grid_lb) / (grid_points - 1)
    else:
        m_values = None if m_grid is None else np.asarray(m_grid, dtype=float)
        if m_values is not None and (m_values.size == 0 or (m_values < 0).any()):
            raise ValueError("m_grid must be a non-empty sequence of non-negative numbers")
        robust = moderndid.create_sensitivity_results_sm(
            betahat, sigma, num_pre, num_post, method="FLCI", m_vec=m_values, l_vec=l_vec, alpha=alpha,
        )
        robust = robust.to_pandas().rename(columns={"m": "M"})
        grid_step = float("nan")
    return HonestResult(robust=robust.reset_index(drop=True), original=original, grid_step=float(grid_step))


def honest_from_event_study(
    table: pd.DataFrame,
    *,
    vcov: np.ndarray | None = None,
    influence: np.ndarray | None = None,
    estimate: str = "att",
    event_time: str = "event_time",
    reference: int = -1,
    **kwargs,
) -> HonestResult:
    """:func:`honest_sensitivity` for an event-study table (e.g. a Callaway–Sant'Anna dynamic aggregation).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per event time with columns ``event_time`` and ``estimate``; a row for ``reference``
        may be present (its estimate must be 0: HonestDiD needs a universal base period) and is dropped.
        Event times must be consecutive.
    vcov : array, optional
        Covariance of the table's estimates, rows in the table's order (with or without the reference row).
    influence : array of shape (n, n_event_times), optional
        Influence functions instead of ``vcov``: :math:`\\Sigma = \\psi'\\psi / n^2` (``did``'s convention).
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
    for column in (event_time, estimate):
        if column not in table.columns:
            raise ValueError(f"column {column!r} is not in the event-study table")
    if (vcov is None) == (influence is None):
        raise ValueError("give exactly one of vcov= and influence=")
    times = table[event_time].to_numpy()
    if (np.diff(times) != 1).any():
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
                              num_post=num_post, **kwargs)
