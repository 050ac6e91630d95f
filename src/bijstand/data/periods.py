"""Calendar months <-> integer estimation periods.

The project counts months as integers so that estimation panels (and R ``did``'s ``tname``/``gname``)
work with plain ints:

.. math::

    \\text{period}(y, m) = 12\\,(y - 2015) + m, \\qquad 2015\\text{-}01 \\mapsto 1,\\; 2024\\text{-}12 \\mapsto 120.

Months before 2015 map to periods :math:`\\le 0` (left-censored spells start there). In data files a month is a
``datetime64[ns]`` Timestamp at the first of the month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STUDY_START = pd.Timestamp("2015-01-01")
"""First month of the study window (period 1)."""
STUDY_END = pd.Timestamp("2024-12-01")
"""Last month of the study window (period 120)."""

_BASE_YEAR = 2015


def month_to_period(month):
    """Integer period of a month (``2015-01`` -> 1), vectorised.

    Parameters
    ----------
    month : str, Timestamp, datetime64, array-like or Series
        Any day within the month counts as that month. A Series returns a nullable ``Int64`` Series (NaT ->
        ``<NA>``); a scalar returns ``int`` (``None`` for NaT); an array returns ``int64`` (NaT raises).

    Returns
    -------
    int, numpy.ndarray or pandas.Series
    """
    if isinstance(month, pd.Series):
        values = pd.to_datetime(month)
        out = (values.dt.year - _BASE_YEAR) * 12 + values.dt.month
        return out.astype("Int64")
    if np.isscalar(month) or isinstance(month, (pd.Timestamp, np.datetime64)):
        ts = pd.Timestamp(month)
        if pd.isna(ts):
            return None
        return int((ts.year - _BASE_YEAR) * 12 + ts.month)
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(month)))
    if index.hasnans:
        raise ValueError("month_to_period: month contains NaT; pass a pandas Series to keep missing values")
    return np.asarray((index.year - _BASE_YEAR) * 12 + index.month, dtype=np.int64)


def period_to_month(period):
    """First-of-month Timestamp of an integer period (1 -> ``2015-01-01``), vectorised.

    Parameters
    ----------
    period : int, array-like or Series of int
        Periods may be :math:`\\le 0` (months before 2015).

    Returns
    -------
    Timestamp, DatetimeIndex-backed ``datetime64[ns]`` array, or Series
    """
    if isinstance(period, pd.Series):
        return pd.Series(period_to_month(period.to_numpy(dtype=np.int64)), index=period.index, name=period.name)
    if np.isscalar(period):
        p = int(period)
        if p != period:
            raise ValueError(f"period_to_month: period must be an integer, got {period!r}")
        months_since_1970 = (_BASE_YEAR - 1970) * 12 + p - 1
        return pd.Timestamp(np.datetime64(months_since_1970, "M"))
    arr = np.asarray(period)
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise ValueError("period_to_month: period must hold integers")
    months_since_1970 = (_BASE_YEAR - 1970) * 12 + arr.astype(np.int64) - 1
    return months_since_1970.astype("datetime64[M]").astype("datetime64[ns]")
