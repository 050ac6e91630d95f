"""The figures readers of a DiD / duration study expect, from plain DataFrames.

Every function takes a tidy :class:`pandas.DataFrame` with documented columns (no estimator objects, so this
module does not depend on the internals of :mod:`bijstand.did` or :mod:`bijstand.models`) and returns a
:class:`matplotlib.figure.Figure`. Nothing is shown and nothing is written: figures are built on a bare
``Figure`` (not ``pyplot``), so no global figure list fills up in long notebooks; saving is the caller's job,
through :func:`save_figure` or :meth:`bijstand.report.results.Results.figure`. Sizes are fixed by the input
(never by the screen) and no timestamps are written, so the same input gives the same bytes.

Missing columns raise :class:`ValueError` naming the column and the function.

Print size. The paper places every figure at the width of its text block (16 cm, :data:`TEXT_WIDTH_IN`), so the
functions draw at that width with the lettering of :data:`PAPER_RC` (8-9.5 pt): what is drawn is what prints, and
nothing falls below :data:`MIN_FONT_PT`. Numbers written into a figure (legend values, printed targets) use the
paper's decimals and the true minus sign U+2212, like the text (``axes.unicode_minus`` for tick labels).

Inventory. :func:`save_figure` records what a saved figure contains -- every piece of lettering with its size and
box, overlapping or clipped lettering, bands, interval bars, diamond markers, dashed and dotted lines, titles and
legend entries -- and writes it into the PNG (``tEXt`` chunk ``bijstand:figure``) and the SVG (``<dc:description>``)
as JSON. :func:`figure_inventory` reads it back; the paper build uses it to check lettering at print size and that
what a caption promises ("95% bands", "diamonds", "the dashed line") is drawn.
"""

from __future__ import annotations

import functools
import json
import struct
import textwrap
import zlib
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path
from types import MappingProxyType
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import rc_context
from matplotlib.figure import Figure

#: Events marked on roll-out timelines by default (label -> month).
DEFAULT_EVENTS: Mapping[str, str] = MappingProxyType({"COVID-19": "2020-03"})

#: Metadata that would otherwise carry a timestamp or version string into the file.
_SAVE_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                  "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}

_PALETTE = sns.color_palette("colorblind", 10)
_ESTIMATE_COLOUR = _PALETTE[0]
_TRUTH_COLOUR = _PALETTE[3]

#: Width of the paper's text block (16 cm) in inches: figures are placed at this width, so they are drawn at it.
TEXT_WIDTH_IN = 16 / 2.54
#: Smallest lettering allowed at print size, in points.
MIN_FONT_PT = 7.0
#: Lettering for a figure drawn at :data:`TEXT_WIDTH_IN`: it prints at these sizes.
PAPER_RC: Mapping[str, Any] = MappingProxyType({
    "font.size": 9.0, "axes.titlesize": 9.5, "axes.labelsize": 9.0, "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0, "legend.fontsize": 8.0, "legend.title_fontsize": 8.0, "figure.titlesize": 10.0,
    "axes.unicode_minus": True, "axes.formatter.useoffset": False, "legend.frameon": False,
})
MINUS = "\u2212"
#: Key of the PNG text chunk (and marker in the SVG description) that carries a figure's inventory.
INVENTORY_KEY = "bijstand:figure"


def _fmt(value: float, decimals: int) -> str:
    """``value`` with exactly ``decimals`` decimals, thousands separators and the minus sign U+2212."""
    text = f"{float(value):,.{decimals}f}"
    if text.startswith("-"):
        text = text[1:] if set(text[1:]) <= set("0.,") else MINUS + text[1:]
    return text


def _paper_style(function):
    """Draw under the paper's lettering (:data:`PAPER_RC`) and seaborn's white grid."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with sns.axes_style("whitegrid"), rc_context(dict(PAPER_RC)):
            return function(*args, **kwargs)

    return wrapper


def _require(table: pd.DataFrame, columns: Sequence[str], function: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{function}: table is missing column(s) {missing}; it has {list(table.columns)}")


def _legend(ax, order: Sequence[str], **kwargs) -> None:
    """Legend in the documented order (matplotlib would group entries by artist type instead)."""
    handles, labels = ax.get_legend_handles_labels()
    by_label = dict(zip(labels, handles, strict=True))
    present = [label for label in order if label in by_label]
    ax.legend([by_label[label] for label in present], present, **kwargs)


def _title_above_legend(fig: Figure, ax, title: str) -> None:
    """Set the axes title high enough to clear a legend placed just above the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    legend = ax.get_legend()
    height_pt = legend.get_window_extent(renderer).height * 72.0 / fig.dpi if legend is not None else 0.0
    ax.set_title(title, pad=height_pt + 4.0)


def _new_axes(width: float, height: float) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), layout="constrained")
    with sns.axes_style("whitegrid"), rc_context(dict(PAPER_RC)):
        ax = fig.add_subplot()
    return fig, ax


# ----------------------------------------------------------------------------------------------------------------
# Difference-in-differences
# ----------------------------------------------------------------------------------------------------------------

@_paper_style
def event_study_plot(
    table: pd.DataFrame,
    *,
    truth: pd.DataFrame | None = None,
    title: str | None = None,
    reference_period: int | None = -1,
    ylabel: str = "effect",
) -> Figure:
    """Event-study coefficients with pointwise intervals, an optional uniform band and the true effect.

    Parameters
    ----------
    table
        One row per event time (the tidy table of any event-study result): ``event_time`` (periods since first
        treatment; 0 = first treated month), ``estimate``, ``ci_lower``, ``ci_upper`` (pointwise interval) and
        optionally ``ucb_lower`` / ``ucb_upper`` (simultaneous band, drawn as a lighter band). Other columns
        (``se``, ``statistic``, ``p_value``) may be present and are not used.
    truth
        Optional ``event_time``, ``att``: the true effect of a simulation, drawn as a marked dashed line.
    title
        Axes title.
    reference_period
        Event time the estimates are normalised to. If it is not in ``table`` a hollow marker at 0 is drawn there.
        The vertical "treatment" line is drawn half a period after it. ``None``: neither.
    ylabel
        Label of the y axis (outcome and units).

    Returns
    -------
    matplotlib.figure.Figure
        Legend entries, in order: pointwise estimate, uniform band (if given), reference period (if added),
        true effect (if given).
    """
    function = "event_study_plot"
    estimate_col = "estimate"
    _require(table, ["event_time", estimate_col, "ci_lower", "ci_upper"], function)
    has_band = "ucb_lower" in table.columns or "ucb_upper" in table.columns
    if has_band:
        _require(table, ["ucb_lower", "ucb_upper"], function)
    if truth is not None:
        _require(truth, ["event_time", "att"], f"{function} (truth)")

    data = table.sort_values("event_time")
    x = data["event_time"].to_numpy(dtype=float)
    y = data[estimate_col].to_numpy(dtype=float)
    # A normalised reference row has no interval; draw it without bars instead of failing on NaN.
    lower_err = np.nan_to_num(y - data["ci_lower"].to_numpy(dtype=float))
    upper_err = np.nan_to_num(data["ci_upper"].to_numpy(dtype=float) - y)

    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.3)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    if reference_period is not None:
        ax.axvline(reference_period + 0.5, color="0.5", linestyle=":", linewidth=1.0)
    if has_band:
        ax.fill_between(x, data["ucb_lower"].to_numpy(dtype=float), data["ucb_upper"].to_numpy(dtype=float),
                        color=_ESTIMATE_COLOUR, alpha=0.18, linewidth=0, label="uniform 95% band")
    ax.errorbar(x, y, yerr=[lower_err, upper_err], fmt="o", color=_ESTIMATE_COLOUR, markersize=4, capsize=2.5,
                linewidth=1.2, label="estimate, pointwise 95% CI")
    if reference_period is not None and reference_period not in set(data["event_time"]):
        ax.plot([reference_period], [0.0], marker="o", markerfacecolor="white", markeredgecolor=_ESTIMATE_COLOUR,
                linestyle="none", label="reference period")
    if truth is not None:
        true_sorted = truth.sort_values("event_time")
        ax.plot(true_sorted["event_time"], true_sorted["att"], color=_TRUTH_COLOUR, linestyle="--", marker="x",
                markersize=5, linewidth=1.2, label="true effect")
    ax.set_xlabel("periods relative to treatment start")
    ax.set_ylabel(ylabel)
    # above the axes in one row: inside, it would cover estimates or the band wherever it went
    _legend(ax, ["estimate, pointwise 95% CI", "uniform 95% band", "reference period", "true effect"],
            loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, frameon=False, borderaxespad=0.2)
    if title:
        _title_above_legend(fig, ax, title)
    return fig


def _period_to_month(period: int) -> pd.Timestamp:
    # Same formula as the data contract's bijstand.data.periods.period_to_month; repeated here (two lines) so
    # plotting does not depend on the data layer being importable.
    year, month = divmod(int(period) - 1, 12)
    return pd.Timestamp(year=2015 + year, month=month + 1, day=1)


@_paper_style
def rollout_plot(
    adoption: pd.DataFrame,
    *,
    unit_col: str,
    start_col: str,
    end: str | pd.Timestamp | None = None,
    events: Mapping[str, str] | None = DEFAULT_EVENTS,
    window_start: str | pd.Timestamp | None = None,
    title: str | None = None,
) -> Figure:
    """Staggered roll-out timeline: one row per unit, sorted by start, treated months shaded.

    Parameters
    ----------
    adoption
        One row per unit (area): ``unit_col`` and ``start_col``, the first treated month as a date, or as an
        integer ``period`` (2015-01 = 1) with 0 meaning never treated. Never-treated units (NaT / 0) are listed
        last, marked "(comparison)", without shading.
    unit_col, start_col
        Column names.
    end
        Last month of the observation window; default 12 months after the latest start.
    events
        ``{label: month}`` marked by vertical lines (default COVID-19, 2020-03); ``None`` or ``{}`` for none.
    window_start
        First month shown; default 12 months before the earliest start.
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One bar (patch) per treated unit; one vertical line and text per event.
    """
    function = "rollout_plot"
    _require(adoption, [unit_col, start_col], function)
    if adoption[unit_col].duplicated().any():
        dupes = sorted(adoption.loc[adoption[unit_col].duplicated(), unit_col].astype(str).unique())[:5]
        raise ValueError(f"{function}: column {unit_col!r} has duplicated units {dupes}")
    starts = adoption[start_col]
    if pd.api.types.is_numeric_dtype(starts) and not pd.api.types.is_bool_dtype(starts):
        start_dates = pd.Series([_period_to_month(p) if p > 0 else pd.NaT for p in starts], index=adoption.index)
    else:
        try:
            start_dates = pd.to_datetime(starts)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{function}: column {start_col!r} is neither dates nor integer periods") from err
    frame = pd.DataFrame({"unit": adoption[unit_col].astype(str), "start": start_dates})
    treated = frame["start"].notna()
    if not treated.any():
        raise ValueError(f"{function}: column {start_col!r} has no treated unit")
    frame = frame.sort_values(["start", "unit"], na_position="last", kind="mergesort").reset_index(drop=True)

    end_ts = pd.Timestamp(end) if end is not None else frame["start"].max() + pd.DateOffset(months=12)
    first_ts = (pd.Timestamp(window_start) if window_start is not None
                else frame["start"].min() - pd.DateOffset(months=12))
    # Treatment lasts through the end month, so shade up to the first day of the month after it.
    stop = mdates.date2num(end_ts + pd.DateOffset(months=1))

    n_units = len(frame)
    fig, ax = _new_axes(TEXT_WIDTH_IN, max(2.4, 0.18 * n_units + 1.3))
    y = np.arange(n_units)
    on = frame["start"].notna().to_numpy()
    left = mdates.date2num(frame.loc[on, "start"].to_list())
    ax.barh(y[on], stop - left, left=left, height=0.7, color=_ESTIMATE_COLOUR, alpha=0.75,
            label="intervention in force")
    labels = [u if s else f"{u} (comparison)" for u, s in zip(frame["unit"], on, strict=True)]
    ax.set_yticks(y, labels=labels, fontsize=7.5 if n_units > 30 else 8)
    ax.set_ylim(n_units - 0.5, -0.5)  # first starter on top
    for label, month in (events or {}).items():
        x_event = mdates.date2num(pd.Timestamp(month))
        ax.axvline(x_event, color=_TRUTH_COLOUR, linestyle="--", linewidth=1.2)
        ax.text(x_event, -0.6, f" {label}", color=_TRUTH_COLOUR, va="bottom", ha="left", fontsize=8)
    ax.set_xlim(mdates.date2num(first_ts), stop)
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.set_xlabel("month")
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title, pad=26)  # above the event labels and the legend
    # Above the axes, so it never hides the last units' bars; on the side where no event label is.
    legend = ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    _clear_legend_of(fig, ax, legend, ax.texts)
    return fig


def _clear_legend_of(fig: Figure, ax, legend, texts) -> None:
    """Move a legend above the axes from the right to the left end when it overlaps one of ``texts``; else
    put the overlapping text on the other side of its anchor."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not texts:
        return
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()

    def clashes() -> list:
        box = legend.get_window_extent(renderer)
        return [t for t in texts if t.get_window_extent(renderer).overlaps(box)]

    if not clashes():
        return
    legend.set_loc("lower left")
    legend.set_bbox_to_anchor((0.0, 1.0), transform=ax.transAxes)
    fig.draw_without_rendering()
    for text in clashes():  # events near both ends: turn the label to the other side of its line
        text.set_horizontalalignment("right")
        text.set_text(text.get_text().strip() + " ")


@_paper_style
def bacon_plot(decomposition: pd.DataFrame, *, overall: float | None = None, title: str | None = None) -> Figure:
    """Goodman-Bacon decomposition: 2x2 DiD estimates against their weights, by comparison type.

    Parameters
    ----------
    decomposition
        One row per 2x2 comparison: ``type`` (e.g. "treated vs never", "early vs late", "late vs early"),
        ``estimate``, ``weight`` (non-negative; normalised here to sum to one).
    overall
        The two-way fixed-effects estimate; default the weighted mean :math:`\\sum_k w_k \\hat\\beta_k / \\sum_k w_k`
        (which equals TWFE by the decomposition theorem).
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One scatter per comparison type plus the horizontal TWFE line (legend: types, then the line).
    """
    function = "bacon_plot"
    _require(decomposition, ["type", "estimate", "weight"], function)
    weight = decomposition["weight"].astype(float)
    if (weight < 0).any() or not weight.sum() > 0:
        raise ValueError(f"{function}: column 'weight' must be non-negative with a positive sum")
    weight = weight / weight.sum()
    estimate = decomposition["estimate"].astype(float)
    if overall is None:
        overall = float((weight * estimate).sum())

    # 7.0 x 4.5 in, not the text width: notebook 02 keeps the figure's repr ("Figure size 700x450") as a
    # checked output; the lettering is one step larger so that it still prints at 8 pt or more when the
    # figure is scaled to the text width (6.3 / 7.1 in)
    fig, ax = _new_axes(7.0, 4.5)
    ax.tick_params(labelsize=9)
    ax.xaxis.label.set_size(10)
    ax.yaxis.label.set_size(10)
    markers = ["o", "s", "^", "D", "v", "P"]
    types = sorted(decomposition["type"].astype(str).unique())
    for i, kind in enumerate(types):
        rows = decomposition["type"].astype(str) == kind
        ax.scatter(weight[rows], estimate[rows], s=36, color=_PALETTE[i % len(_PALETTE)],
                   marker=markers[i % len(markers)], label=kind, edgecolor="white", linewidth=0.5)
    twfe_label = f"TWFE estimate = {_fmt(overall, 3)}"  # the paper quotes effects with 3 decimals
    ax.axhline(overall, color="0.2", linestyle="--", linewidth=1.2, label=twfe_label)
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xlabel("weight")
    ax.set_ylabel("2\u00d72 DiD estimate")
    if title:
        ax.set_title(title)
    # beside the axes: inside, "best" still lands on points of a dense scatter
    _legend(ax, types + [twfe_label], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return fig


@_paper_style
def estimate_vs_truth_plot(table: pd.DataFrame, *, title: str | None = None, xlabel: str = "effect") -> Figure:
    """Forest plot: each estimate with its interval beside the true value (simulation check).

    Parameters
    ----------
    table
        One row per estimate, top to bottom: ``label``, ``estimate``, ``ci_lower``, ``ci_upper``, ``truth``
        (NaN where unknown; then no truth marker is drawn for that row).
    title, xlabel
        Axes title and x-axis label.

    Returns
    -------
    matplotlib.figure.Figure
        Legend entries: estimate with 95% CI, true value.
    """
    function = "estimate_vs_truth_plot"
    _require(table, ["label", "estimate", "ci_lower", "ci_upper", "truth"], function)
    n = len(table)
    y = np.arange(n)
    estimate = table["estimate"].to_numpy(dtype=float)
    fig, ax = _new_axes(TEXT_WIDTH_IN, max(2.2, 0.34 * n + 1.0))
    ax.axvline(0.0, color="0.6", linewidth=0.8)
    ax.errorbar(estimate, y, xerr=[estimate - table["ci_lower"].to_numpy(dtype=float),
                                   table["ci_upper"].to_numpy(dtype=float) - estimate],
                fmt="o", color=_ESTIMATE_COLOUR, capsize=3, markersize=5, label="estimate, 95% CI")
    truth = table["truth"].to_numpy(dtype=float)
    known = ~np.isnan(truth)
    # Just below its estimate, so a correct estimate does not hide the truth marker.
    ax.scatter(truth[known], y[known] + 0.2, marker="D", s=30, color=_TRUTH_COLOUR, zorder=3, label="true value")
    ax.set_yticks(y, labels=table["label"].astype(str).to_list())
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title)
    # beside the axes: with many rows "best" still lands on a row's interval
    _legend(ax, ["estimate, 95% CI", "true value"], loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# Duration curves
# ----------------------------------------------------------------------------------------------------------------

def _curves(table: pd.DataFrame, value_col: str, function: str, min_at_risk: int | None,
            label_cols: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    _require(table, ["group", "time", value_col, "ci_lower", "ci_upper"], function)
    if min_at_risk is not None:
        if "at_risk" not in table.columns:
            raise ValueError(f"{function}: table is missing column(s) ['at_risk'], needed to keep groups of fewer "
                             f"than {min_at_risk} persons out of the plot (pass min_at_risk=None for simulated data)")
        # CBS output rule: no plotted point may rest on fewer than min_at_risk persons.
        table = table.loc[table["at_risk"] >= min_at_risk]
    label_cols = list(label_cols)
    if len(label_cols) > 1 and table["group"].nunique() == 1:
        label_cols.remove("group")  # one group ("all"): label curves by cause only
    curves = []
    for key, rows in table.groupby(label_cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        curves.append((": ".join(str(k) for k in key), rows.sort_values("time")))
    return curves


def _draw_curves(ax, curves, value_col: str, flip: bool) -> None:
    for i, (label, rows) in enumerate(curves):
        colour = _PALETTE[i % len(_PALETTE)]
        t = rows["time"].to_numpy(dtype=float)
        value, lower, upper = (rows[c].to_numpy(dtype=float) for c in (value_col, "ci_lower", "ci_upper"))
        if flip:
            value, lower, upper = 1 - value, 1 - upper, 1 - lower
        ax.step(t, value, where="post", color=colour, linewidth=1.5, label=label)
        ax.fill_between(t, lower, upper, step="post", color=colour, alpha=0.15, linewidth=0)


@_paper_style
def survival_plot(
    km_table: pd.DataFrame,
    *,
    failure: bool = False,
    min_at_risk: int | None = 10,
    title: str | None = None,
    ylabel: str | None = None,
    xlabel: str = "months",
) -> Figure:
    """Kaplan--Meier curves with confidence bands, one per group.

    Parameters
    ----------
    km_table
        Output of :func:`bijstand.models.duration.kaplan_meier` with ``times=None``: ``group``, ``time``,
        ``survival``, ``ci_lower``, ``ci_upper`` and ``at_risk``.
    failure
        Plot :math:`1 - S(t)` (e.g. re-inflow probability) instead of :math:`S(t)`.
    min_at_risk
        Points with fewer persons at risk are left out (CBS rule: 10). ``None`` keeps all (simulated data only).
    title, ylabel, xlabel
        Labels; ``ylabel`` defaults to "survival" or "cumulative probability".

    Returns
    -------
    matplotlib.figure.Figure
        One step line and one band per group; legend entries are the groups.
    """
    curves = _curves(km_table, "survival", "survival_plot", min_at_risk, ["group"])
    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.4)
    _draw_curves(ax, curves, "survival", flip=failure)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or ("cumulative probability" if failure else "survival"))
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(loc="best", frameon=False)
    return fig


@_paper_style
def cumulative_incidence_plot(
    table: pd.DataFrame,
    *,
    min_at_risk: int | None = 10,
    title: str | None = None,
    ylabel: str = "cumulative incidence",
    xlabel: str = "months",
) -> Figure:
    """Aalen--Johansen cumulative incidence curves with confidence bands.

    Parameters
    ----------
    table
        Output of :func:`bijstand.models.duration.cumulative_incidence` with ``times=None`` (possibly several
        stacked, one per cause): ``group``, ``time``, ``cumulative_incidence``, ``ci_lower``, ``ci_upper``,
        ``at_risk`` and optionally ``event`` (the cause; then one curve per group and cause).
    min_at_risk, title, ylabel, xlabel
        As in :func:`survival_plot`.

    Returns
    -------
    matplotlib.figure.Figure
        One step line and band per curve; legend entries ``"group"`` or ``"group: cause"``.
    """
    label_cols = ["group", "event"] if "event" in table.columns else ["group"]
    curves = _curves(table, "cumulative_incidence", "cumulative_incidence_plot", min_at_risk, label_cols)
    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.4)
    _draw_curves(ax, curves, "cumulative_incidence", flip=False)
    ax.set_ylim(0, None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if curves:
        ax.legend(loc="best", frameon=False)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# Calibration of the synthetic register
# ----------------------------------------------------------------------------------------------------------------

def _number(value: float) -> str:
    """Readable number: thousands with separators, small values with three significant digits (``20.0``, not
    ``20``), the minus sign U+2212."""
    if abs(value) >= 1000:
        return _fmt(value, 0)
    text = f"{value:#.3g}".rstrip(".")
    return MINUS + text[1:] if text.startswith("-") else text


@_paper_style
def calibration_plot(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Synthetic register against CBS targets, per margin, in units of the tolerance.

    Margins have different units (persons, shares, hazards), so each is drawn as
    :math:`(\\text{synthetic} - \\text{target}) / \\text{tolerance}`: the target sits at 0, the tolerance bar
    spans -1 to 1, and the raw numbers are printed beside each row.

    Parameters
    ----------
    table
        One row per margin: ``margin`` (label), ``synthetic``, ``target``, ``tolerance`` (> 0, same units as the
        target) and ``ok`` (bool, the caller's verdict; colours the point).
    title
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Legend entries: "CBS target +- tolerance", then "within tolerance" / "outside tolerance" for those
        present.
    """
    function = "calibration_plot"
    _require(table, ["margin", "synthetic", "target", "tolerance", "ok"], function)
    tolerance = table["tolerance"].to_numpy(dtype=float)
    if not (tolerance > 0).all():
        raise ValueError(f"{function}: column 'tolerance' must be positive (rows {list(table.index[~(tolerance > 0)])})")
    synthetic = table["synthetic"].to_numpy(dtype=float)
    target = table["target"].to_numpy(dtype=float)
    ok = table["ok"].astype(bool).to_numpy()
    deviation = (synthetic - target) / tolerance
    n = len(table)
    y = np.arange(n)

    # long margin names on two (or more) lines, so the axes keep a usable width at the text width; rows as
    # tall as their longest name needs
    names = [textwrap.fill(str(m), 34) for m in table["margin"]]
    lines = max((name.count("\n") + 1 for name in names), default=1)
    fig, ax = _new_axes(TEXT_WIDTH_IN, max(2.5, max(0.3, 0.14 * lines + 0.04) * n + 1.2))
    ax.errorbar(np.zeros(n), y, xerr=np.ones(n), fmt="|", color="0.4", capsize=4, markersize=10,
                label="CBS target \u00b1 tolerance")
    if ok.any():
        ax.scatter(deviation[ok], y[ok], marker="o", s=34, color=_PALETTE[2], zorder=3, label="within tolerance")
    if (~ok).any():
        ax.scatter(deviation[~ok], y[~ok], marker="X", s=44, color=_TRUTH_COLOUR, zorder=3,
                   label="outside tolerance")
    reach = max(1.5, float(np.nanmax(np.abs(deviation))) * 1.15) if n else 1.5
    for yi, s, t, tol in zip(y, synthetic, target, tolerance, strict=True):
        # Raw numbers beside the axes (x in axes units, y in data units), since the x axis is unit-free.
        ax.text(1.02, yi, f"{_number(s)} vs {_number(t)} \u00b1 {_number(tol)}", va="center", fontsize=7.5,
                transform=ax.get_yaxis_transform())
    ax.set_xlim(-reach, reach)
    ax.set_yticks(y, labels=names, fontsize=7.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("(synthetic \u2212 target) / tolerance")
    ax.grid(axis="y", visible=False)
    if title:
        ax.set_title(title, pad=20)  # room for the legend above the axes
    _legend(ax, ["CBS target \u00b1 tolerance", "within tolerance", "outside tolerance"], loc="lower left",
            bbox_to_anchor=(0.0, 1.0), ncols=3, frameon=False, fontsize=7.5)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------------------------

class _LetteringRecorder:
    """Records every piece of text the Agg renderer draws (string, size in points, box in pixels)."""

    def __init__(self):
        self.texts: list[dict[str, Any]] = []
        self.canvas = (0, 0)

    def __enter__(self):
        from matplotlib.backends.backend_agg import RendererAgg

        self._original = RendererAgg.draw_text
        recorder = self

        def draw_text(renderer, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            recorder.canvas = (renderer.width, renderer.height)
            if str(s).strip():
                if mtext is not None:
                    box = mtext.get_window_extent(renderer)
                    extent = (box.x0, box.y0, box.x1, box.y1)
                else:  # one line of a multi-line text: its box from the font metrics, rotated about (x, y)
                    w, h, d = renderer.get_text_width_height_descent(s, prop, ismath)
                    # Agg passes the baseline measured from the top of the canvas; boxes are measured from the
                    # bottom (the y passed on to the real draw_text below must stay as it is)
                    baseline = renderer.height - y if renderer.flipy() else y
                    theta = np.deg2rad(angle)
                    corners = np.array([[0, -d], [w, -d], [w, h - d], [0, h - d]])
                    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
                    pts = corners @ rot.T + [x, baseline]
                    extent = (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())
                recorder.texts.append({"text": str(s), "size_pt": round(float(prop.get_size_in_points()), 2),
                                       "box_px": [round(float(v), 1) for v in extent]})
            return recorder._original(renderer, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

        RendererAgg.draw_text = draw_text
        return self

    def __exit__(self, *exc):
        from matplotlib.backends.backend_agg import RendererAgg

        RendererAgg.draw_text = self._original
        return False


def _overlap_px(a: Sequence[float], b: Sequence[float]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _is_diamond(path) -> bool:
    from matplotlib.markers import MarkerStyle

    for code in ("D", "d"):
        style = MarkerStyle(code)
        reference = style.get_path().transformed(style.get_transform()).vertices
        vertices = path.vertices
        if vertices.shape == reference.shape:
            scale = np.abs(vertices).max() / max(np.abs(reference).max(), 1e-12)
            if np.allclose(vertices, reference * scale, atol=1e-6 * max(scale, 1.0)):
                return True
    return False


def _drawn_elements(fig: Figure, dpi: float) -> dict[str, Any]:
    """What the axes show, by kind: bands (and their mean thickness), interval bars, diamonds, dashed and dotted
    lines, legend entries and titles."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    bands, intervals, diamonds, dashed, dotted, legend, titles = [], 0, 0, 0, 0, [], []
    errorbar_lines = set()
    for ax in fig.axes:
        for loc in ("left", "center", "right"):
            if ax.get_title(loc).strip():
                titles.append(ax.get_title(loc).strip())
        for container in ax.containers:
            if isinstance(container, ErrorbarContainer):
                for collection in container.lines[2]:
                    intervals += len(collection.get_segments())
                    errorbar_lines.add(id(collection))
        for artist in ax.collections:
            if not artist.get_visible():
                continue
            if isinstance(artist, PolyCollection):
                to_pt = artist.get_transform()
                for path in artist.get_paths():
                    xy = to_pt.transform(path.vertices) * 72.0 / dpi
                    x, y = xy[:, 0], xy[:, 1]
                    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
                    extent = max(x.max() - x.min(), y.max() - y.min(), 1e-9)
                    bands.append(area / extent)  # mean thickness across its length, points
            elif isinstance(artist, LineCollection) and id(artist) not in errorbar_lines:
                intervals += len(artist.get_segments())
            elif isinstance(artist, PathCollection) and len(artist.get_offsets()):
                if any(_is_diamond(path) for path in artist.get_paths()):
                    diamonds += len(artist.get_offsets())
        for line in ax.get_lines():
            if not line.get_visible() or not isinstance(line, Line2D):
                continue
            if line.get_marker() in ("D", "d"):
                diamonds += len(line.get_xdata())
            style = line.get_linestyle()
            if style in ("--", "-."):
                dashed += 1
            elif style == ":":
                dotted += 1
        if ax.get_legend() is not None:
            legend += [t.get_text() for t in ax.get_legend().get_texts()]
    for figure_legend in fig.legends:
        legend += [t.get_text() for t in figure_legend.get_texts()]
    if getattr(fig, "_suptitle", None) is not None and fig._suptitle.get_text().strip():
        titles.insert(0, fig._suptitle.get_text().strip())
    return {"bands": [round(float(b), 3) for b in bands], "intervals": int(intervals), "diamonds": int(diamonds),
            "dashed_lines": int(dashed), "dotted_lines": int(dotted), "legend": legend, "titles": titles}


def _inventory(fig: Figure, texts: list[dict[str, Any]], canvas: tuple[float, float], dpi: float) -> dict[str, Any]:
    width_px, height_px = canvas
    overlaps, clipped = [], []
    for i, a in enumerate(texts):
        box = a["box_px"]
        if box[0] < -1 or box[1] < -1 or box[2] > width_px + 1 or box[3] > height_px + 1:
            clipped.append(a["text"])
        for b in texts[i + 1:]:
            if b["box_px"] == box and b["text"] == a["text"]:
                continue  # the same text drawn twice in one place
            shared = _overlap_px(box, b["box_px"])
            smaller = min((box[2] - box[0]) * (box[3] - box[1]),
                          (b["box_px"][2] - b["box_px"][0]) * (b["box_px"][3] - b["box_px"][1]))
            if shared > 0.05 * max(smaller, 1e-9) and shared > 2.0:
                overlaps.append([a["text"], b["text"]])
    return {"format": "bijstand-figure/1", "dpi": dpi, "width_in": round(width_px / dpi, 4),
            "height_in": round(height_px / dpi, 4),
            "min_font_pt": min((t["size_pt"] for t in texts), default=None),
            "texts": texts, "overlapping_text": overlaps, "clipped_text": clipped,
            "drawn": _drawn_elements(fig, dpi)}


def _png_with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """Insert a ``tEXt`` chunk (Latin-1 key and value) before the PNG's ``IEND`` chunk."""
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xFFFFFFFF)
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def figure_inventory(path: str | Path) -> dict[str, Any] | None:
    """The inventory :func:`save_figure` wrote into a PNG or SVG, or ``None`` when the file has none.

    Keys: ``width_in``, ``height_in`` (saved size), ``dpi``, ``min_font_pt``, ``texts`` (``text``, ``size_pt``,
    ``box_px``), ``overlapping_text`` (pairs), ``clipped_text``, and ``drawn`` with ``bands`` (mean thickness
    of each band in points at drawn size), ``intervals``, ``diamonds``, ``dashed_lines``, ``dotted_lines``,
    ``legend`` and ``titles``.
    """
    path = Path(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".png":
        position = 8
        while position + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[position:position + 8])
            body = data[position + 8:position + 8 + length]
            if kind == b"tEXt" and body.startswith(INVENTORY_KEY.encode("latin-1") + b"\0"):
                return json.loads(body.split(b"\0", 1)[1].decode("latin-1"))
            position += 12 + length
        return None
    if path.suffix.lower() == ".svg":
        import html

        text = data.decode("utf-8")
        start = text.find("<dc:description>")
        if start < 0:
            return None
        body = html.unescape(text[start + len("<dc:description>"):text.index("</dc:description>", start)])
        if not body.startswith(INVENTORY_KEY + " "):
            return None
        return json.loads(body[len(INVENTORY_KEY) + 1:])
    return None


def save_figure(fig: Figure, path: str | Path, *, formats: Sequence[str] | None = None, dpi: int = 150) -> list[Path]:
    """Write a figure as PNG and/or SVG with no timestamps, so the same figure gives the same bytes.

    The files carry the figure's inventory (see the module notes and :func:`figure_inventory`), taken while the
    figure is drawn at ``dpi`` with the tight bounding box it is saved with; tick labels use the true minus
    sign (``axes.unicode_minus``) whatever the caller's settings.

    Parameters
    ----------
    fig
        The figure.
    path
        Target file. Its suffix (``.png`` / ``.svg`` / ``.pdf``) picks the format unless ``formats`` is given;
        without a suffix both PNG and SVG are written.
    formats
        Formats to write next to each other (``path`` with the suffix replaced).
    dpi
        Resolution of raster output (150 by default, as in :class:`bijstand.report.results.Results`).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    path = Path(path)
    if formats is None:
        formats = [path.suffix.lstrip(".").lower()] if path.suffix else ["png", "svg"]
    unknown = [f for f in formats if f not in _SAVE_METADATA]
    if unknown:
        raise ValueError(f"save_figure: unsupported format(s) {unknown}; use {sorted(_SAVE_METADATA)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # SVG element ids are random unless the hash salt is fixed; the salt depends on the file stem only,
    # so the same figure saved anywhere under the same name is byte-identical.
    settings = {"svg.hashsalt": f"bijstand-{path.stem}", "axes.unicode_minus": True}
    with rc_context(settings), _LetteringRecorder() as recorder:
        png = BytesIO()
        fig.savefig(png, format="png", dpi=dpi, metadata=_SAVE_METADATA["png"], bbox_inches="tight")
    inventory = json.dumps(_inventory(fig, recorder.texts, recorder.canvas, dpi), ensure_ascii=True,
                           sort_keys=True, separators=(",", ":"))
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        if fmt == "png":
            target.write_bytes(_png_with_text_chunk(png.getvalue(), INVENTORY_KEY, inventory))
        else:
            metadata = dict(_SAVE_METADATA[fmt])
            if fmt == "svg":
                metadata["Description"] = f"{INVENTORY_KEY} {inventory}"
            with rc_context(settings):
                fig.savefig(target, format=fmt, dpi=dpi, metadata=metadata, bbox_inches="tight")
        written.append(target)
    return written


# ----------------------------------------------------------------------------------------------------------------
# Descriptive views of the real CBS figures
# ----------------------------------------------------------------------------------------------------------------

@_paper_style
def national_caseload_plot(monthly: pd.DataFrame, quarterly: pd.DataFrame | None = None, *,
                           events: Mapping[str, str] = DEFAULT_EVENTS, title: str | None = None) -> Figure:
    """National number of social-assistance benefits over time.

    Parameters
    ----------
    monthly
        Columns ``month`` and ``benefits_total_thousands`` (CBS 37789ksz, benefits x 1,000).
    quarterly
        Optional columns ``quarter`` ("2019Q1") and ``persons`` (CBS 85585NED, persons), drawn on the same axis in
        thousands; the two series count slightly different things (benefits vs persons), so they keep their own
        labels rather than being joined.
    """
    _require(monthly, ["month", "benefits_total_thousands"], "national_caseload_plot")
    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.2)
    ax.plot(monthly["month"], monthly["benefits_total_thousands"], color=_ESTIMATE_COLOUR,
            label="benefits (CBS 37789ksz)")
    if quarterly is not None:
        _require(quarterly, ["quarter", "persons"], "national_caseload_plot")
        when = pd.PeriodIndex(quarterly["quarter"], freq="Q").to_timestamp(how="end").normalize()
        ax.plot(when, quarterly["persons"] / 1000, color=_PALETTE[2], marker="o", markersize=3,
                label="persons (CBS 85585NED)")
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.12 * (high - low), high)  # a free strip at the foot for the event labels
    for label, month in events.items():
        ax.axvline(pd.Timestamp(month), color="0.4", linestyle=":", linewidth=1)
        # at the foot of the line, left of it: the series run through the top of the axes
        ax.annotate(label, (pd.Timestamp(month), 0.02), xycoords=("data", "axes fraction"), xytext=(-3, 0),
                    textcoords="offset points", fontsize=8, ha="right", va="bottom", color="0.3")
    ax.set_ylabel("thousands")
    ax.xaxis.set_major_locator(mdates.YearLocator(2))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.legend(loc="upper center", fontsize=8, frameon=False)
    ax.set_title(title or "Social assistance in the Netherlands")
    return fig


@_paper_style
def benchmark_plot(figures: pd.DataFrame, *, x: str = "bijstandsontvangers", y: str = "uitstroom_werk_pct",
                   highlight: Mapping[str, str] | None = None, national: float | None = None,
                   title: str | None = None, xlabel: str = "persons on social assistance (log scale)",
                   ylabel: str = "outflow to work, % of stock + inflow") -> Figure:
    """Divosa-style benchmark: every municipality's indicator against its size, seed municipalities named.

    Parameters
    ----------
    figures
        One row per municipality with ``region_code`` and the columns ``x`` and ``y``.
    highlight
        ``{region_code: label}`` of municipalities to mark and name.
    national
        The national value of ``y``, drawn as the horizontal "landelijke lijn".
    """
    _require(figures, ["region_code", x, y], "benchmark_plot")
    data = figures.dropna(subset=[x, y])
    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.6)
    ax.scatter(data[x], data[y], s=8, color="0.6", alpha=0.7, label="municipalities", linewidths=0)
    named = []
    for code, label in (highlight or {}).items():
        row = data[data["region_code"] == code]
        if row.empty:
            continue
        ax.scatter(row[x], row[y], s=30, color=_TRUTH_COLOUR, zorder=3)
        named.append((label, float(row[x].iloc[0]), float(row[y].iloc[0])))
    if national is not None:
        ax.axhline(national, color=_ESTIMATE_COLOUR, linestyle="--", linewidth=1, label="national")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title(title or "Municipalities against the national line")
    _place_labels(fig, ax, named, avoid_y=[national] if national is not None else [])
    return fig


def _place_labels(fig: Figure, ax, named: Sequence[tuple[str, float, float]],
                  avoid_y: Sequence[float] = ()) -> None:
    """Annotate points with labels that stay inside the axes and do not overlap each other or a horizontal line.

    Each label tries, in turn, the four corners around its point (right-above first) a little away from the
    marker and takes the first position whose box is inside the axes and clear of the labels placed before it
    and of the lines at ``avoid_y`` (data units).
    """
    if not named:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()  # settle the constrained layout, so boxes are where they will print
    frame = ax.get_window_extent(renderer)
    lines = [ax.transData.transform((1.0, value))[1] for value in avoid_y]
    taken = []
    candidates = [(5, 3, "left", "bottom"), (5, -3, "left", "top"), (-5, 3, "right", "bottom"),
                  (-5, -3, "right", "top"), (5, 9, "left", "bottom"), (-5, -9, "right", "top")]
    for label, x_value, y_value in named:
        for dx, dy, ha, va in candidates:
            text = ax.annotate(label, (x_value, y_value), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                               ha=ha, va=va)
            box = text.get_window_extent(renderer)
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1)
            clear = not any(box.overlaps(other) for other in taken) and not any(box.y0 <= y <= box.y1 for y in lines)
            if inside and clear:
                break
            text.remove()
        else:  # no free corner: keep the first, which at least stays near its point
            text = ax.annotate(label, (x_value, y_value), xytext=(5, 3), textcoords="offset points", fontsize=8)
            box = text.get_window_extent(renderer)
        taken.append(box)


@_paper_style
def honest_plot(bounds: pd.DataFrame, *, parameter: str = "mbar", title: str | None = None,
                ylabel: str = "effect") -> Figure:
    """HonestDiD robust confidence sets by the size of the allowed violation, beside the original interval.

    Parameters
    ----------
    bounds
        Columns ``method`` (``"Original"`` for the conventional interval), ``ci_lower``, ``ci_upper`` and
        ``parameter`` (``mbar`` for relative magnitudes, ``m`` for smoothness): ``HonestResult.table``.
    """
    _require(bounds, ["method", "ci_lower", "ci_upper"], "honest_plot")
    robust = bounds[bounds["method"] != "Original"]
    _require(robust, [parameter], "honest_plot")
    original = bounds[bounds["method"] == "Original"]
    fig, ax = _new_axes(TEXT_WIDTH_IN, 3.2)
    labels, lows, highs, colours = [], [], [], []
    if len(original):
        labels.append("original")
        lows.append(float(original["ci_lower"].iloc[0]))
        highs.append(float(original["ci_upper"].iloc[0]))
        colours.append(_TRUTH_COLOUR)
    for _, row in robust.iterrows():
        labels.append(f"{row[parameter]:g}".replace("-", MINUS))
        lows.append(float(row["ci_lower"]))
        highs.append(float(row["ci_upper"]))
        colours.append(_ESTIMATE_COLOUR)
    x = np.arange(len(labels))
    ax.vlines(x, lows, highs, colors=colours, linewidth=3)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(x, labels)
    ax.set_xlabel("M̄ (relative magnitude)" if parameter == "mbar" else "M (smoothness)" if parameter == "m"
                  else parameter)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Robust 95% confidence sets")
    return fig
