"""Area x month panel from a person-spell register (synthetic or a partner's), built with DuckDB.

For area :math:`a` and month :math:`t` (integer period, see :mod:`bijstand.data.periods`), with spells
:math:`j` of persons :math:`i(j)` running from month :math:`s_j` to :math:`e_j` (:math:`e_j = \\infty` while running):

.. math::

    \\text{stock}_{at} &= \\#\\{j \\in a : s_j \\le t \\le e_j\\} \\\\
    \\text{inflow}_{at} &= \\#\\{j \\in a : s_j = t\\}, \\qquad
    \\text{outflow}^{r}_{at} = \\#\\{j \\in a : e_j = t,\\ \\text{reason}_j = r\\} \\\\
    \\text{reinflow}^{(k)}_{at} &= \\#\\{j \\in a : s_j = t,\\ 1 \\le s_j - e_{\\text{prev}(j)} \\le k\\},
    \\quad k \\in \\{6, 12\\}

where :math:`\\text{prev}(j)` is the person's previous spell (by start month). A person is in the stock in the month
the spell starts and in the month it ends (the last month with benefit), so an exit month counts in both stock and
outflow. Rates are per 100 recipients in the stock of the same month; ``reinflow_12m_share`` is
:math:`100\\,\\text{reinflow}^{(12)}/\\text{inflow}` (NaN when the inflow is zero, so a share is never invented).

Re-inflow needs the register to include spells that ended before ``start`` (the synthetic register writes the
spells of people who left in the five years before 2015 for that reason); spells outside the window are used only
for that look-back.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from bijstand.data.periods import STUDY_END, STUDY_START, month_to_period

SPELL_COLUMNS = ("person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason")
EXIT_REASONS = ("work", "enforcement", "other")
PANEL_COLUMNS = (
    "municipality", "area", "month", "period", "stock", "inflow", "reinflow_6m", "reinflow_12m",
    "outflow", "outflow_work", "outflow_enforcement", "outflow_other",
    "outflow_rate", "outflow_work_rate", "outflow_enforcement_rate", "outflow_other_rate", "reinflow_12m_share",
    "first_treat_cohort", "first_treat_counter", "first_treat_outreach",
)
COUNT_COLUMNS = ("stock", "inflow", "reinflow_6m", "reinflow_12m", "outflow", "outflow_work",
                 "outflow_enforcement", "outflow_other")
_START_COLUMNS = {"first_treat_cohort": "cohort_start", "first_treat_counter": "counter_performance_start",
                  "first_treat_outreach": "outreach_start"}


def _check_spells(spells: pd.DataFrame) -> None:
    missing = [c for c in SPELL_COLUMNS if c not in spells.columns]
    if missing:
        raise ValueError(f"spells: missing column(s) {', '.join(missing)}")
    for column in ("spell_start", "spell_end"):
        if not pd.api.types.is_datetime64_any_dtype(spells[column]):
            raise ValueError(f"spells: column {column} must be datetime64 (first of month), got {spells[column].dtype}")
    if spells["spell_start"].isna().any():
        row = int(np.flatnonzero(spells["spell_start"].isna().to_numpy())[0])
        raise ValueError(f"spells: column spell_start is missing in row {row}")
    ended = spells["spell_end"].notna().to_numpy()
    reason = spells["exit_reason"]
    bad_reason = ended & ~reason.isin(EXIT_REASONS).to_numpy()
    if bad_reason.any():
        row = int(np.flatnonzero(bad_reason)[0])
        raise ValueError(f"spells: column exit_reason must be one of {EXIT_REASONS} when spell_end is set; "
                         f"row {row} has {reason.iloc[row]!r}")
    open_with_reason = ~ended & reason.notna().to_numpy()
    if open_with_reason.any():
        row = int(np.flatnonzero(open_with_reason)[0])
        raise ValueError(f"spells: column exit_reason must be missing while spell_end is NaT (row {row})")
    backwards = ended & (spells["spell_end"] < spells["spell_start"]).to_numpy()
    if backwards.any():
        row = int(np.flatnonzero(backwards)[0])
        raise ValueError(f"spells: column spell_end lies before spell_start in row {row}")


def _areas_frame(areas: pd.DataFrame) -> pd.DataFrame:
    for column in ("municipality", "area"):
        if column not in areas.columns:
            raise ValueError(f"areas: missing column {column}")
    if areas.duplicated(["municipality", "area"]).any():
        row = int(np.flatnonzero(areas.duplicated(["municipality", "area"]).to_numpy())[0])
        raise ValueError(f"areas: (municipality, area) must be unique; row {row} repeats an area")
    frame = areas[["municipality", "area"]].copy()
    for panel_column, area_column in _START_COLUMNS.items():
        # An absent start column means the register has no such intervention (e.g. a partner municipality).
        if area_column in areas.columns:
            frame[panel_column] = month_to_period(pd.to_datetime(areas[area_column])).fillna(0).astype(np.int64)
        else:
            frame[panel_column] = np.int64(0)
    return frame


_PANEL_SQL = """
WITH s AS (
    SELECT person_id, municipality, area, exit_reason,
           (year(spell_start) - 2015) * 12 + month(spell_start) AS p_start,
           (year(spell_end) - 2015) * 12 + month(spell_end) AS p_end
    FROM spells_in
),
s2 AS (
    SELECT *,
           lag(p_end) OVER w AS prev_end,
           lag(p_start) OVER w AS prev_start
    FROM s
    WINDOW w AS (PARTITION BY person_id ORDER BY p_start, p_end NULLS LAST)
),
deltas AS (
    -- stock_t = #(started <= t) - #(ended < t): +1 at max(start, lo), -1 in the month after the end.
    SELECT municipality, area, greatest(p_start, $lo) AS period, 1 AS d
    FROM s2 WHERE p_start <= $hi AND coalesce(p_end, $hi) >= $lo
    UNION ALL
    SELECT municipality, area, p_end + 1 AS period, -1 AS d
    FROM s2 WHERE p_end IS NOT NULL AND p_end >= $lo AND p_end < $hi AND p_start <= $hi
),
stock_change AS (
    SELECT municipality, area, period, sum(d) AS d FROM deltas GROUP BY municipality, area, period
),
inflows AS (
    SELECT municipality, area, p_start AS period,
           count(*) AS inflow,
           count(*) FILTER (WHERE p_start - prev_end BETWEEN 1 AND 6) AS reinflow_6m,
           count(*) FILTER (WHERE p_start - prev_end BETWEEN 1 AND 12) AS reinflow_12m
    FROM s2 WHERE p_start BETWEEN $lo AND $hi
    GROUP BY municipality, area, p_start
),
outflows AS (
    SELECT municipality, area, p_end AS period,
           count(*) AS outflow,
           count(*) FILTER (WHERE exit_reason = 'work') AS outflow_work,
           count(*) FILTER (WHERE exit_reason = 'enforcement') AS outflow_enforcement,
           count(*) FILTER (WHERE exit_reason = 'other') AS outflow_other
    FROM s2 WHERE p_end BETWEEN $lo AND $hi
    GROUP BY municipality, area, p_end
),
grid AS (
    SELECT a.*, CAST(m.month AS TIMESTAMP) AS month,
           (year(m.month) - 2015) * 12 + month(m.month) AS period
    FROM areas_in a
    CROSS JOIN generate_series(CAST($start AS DATE), CAST($end AS DATE), INTERVAL 1 MONTH) AS m(month)
)
SELECT g.municipality, g.area, g.month, CAST(g.period AS BIGINT) AS period,
       CAST(sum(coalesce(sc.d, 0)) OVER (PARTITION BY g.municipality, g.area ORDER BY g.period) AS BIGINT) AS stock,
       CAST(coalesce(i.inflow, 0) AS BIGINT) AS inflow,
       CAST(coalesce(i.reinflow_6m, 0) AS BIGINT) AS reinflow_6m,
       CAST(coalesce(i.reinflow_12m, 0) AS BIGINT) AS reinflow_12m,
       CAST(coalesce(o.outflow, 0) AS BIGINT) AS outflow,
       CAST(coalesce(o.outflow_work, 0) AS BIGINT) AS outflow_work,
       CAST(coalesce(o.outflow_enforcement, 0) AS BIGINT) AS outflow_enforcement,
       CAST(coalesce(o.outflow_other, 0) AS BIGINT) AS outflow_other,
       g.first_treat_cohort, g.first_treat_counter, g.first_treat_outreach
FROM grid g
LEFT JOIN stock_change sc USING (municipality, area, period)
LEFT JOIN inflows i USING (municipality, area, period)
LEFT JOIN outflows o USING (municipality, area, period)
ORDER BY g.municipality, g.area, g.period
"""

_OVERLAP_SQL = """
SELECT count(*) AS n, min(person_id) AS person_id FROM (
    SELECT person_id, spell_start,
           lag(spell_end) OVER w AS prev_end,
           lag(spell_start) OVER w AS prev_start
    FROM spells_in
    WINDOW w AS (PARTITION BY person_id ORDER BY spell_start, spell_end NULLS LAST)
) WHERE prev_start IS NOT NULL AND (prev_end IS NULL OR prev_end >= spell_start)
"""


def add_rates(panel: pd.DataFrame) -> pd.DataFrame:
    """Add the rate columns of the panel contract to a frame with the count columns (in place, returned).

    Rates are per 100 recipients in the stock (NaN when the stock is 0); ``reinflow_12m_share`` is per 100
    inflows (NaN when the inflow is 0).
    """
    stock = panel["stock"].to_numpy(dtype=float)
    inflow = panel["inflow"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_stock = np.where(stock > 0, 100.0 / stock, np.nan)
        for name in ("outflow", "outflow_work", "outflow_enforcement", "outflow_other"):
            panel[f"{name}_rate"] = panel[name].to_numpy(dtype=float) * per_stock
        panel["reinflow_12m_share"] = np.where(
            inflow > 0, 100.0 * panel["reinflow_12m"].to_numpy(dtype=float) / inflow, np.nan)
    return panel


def build_area_panel(spells: pd.DataFrame, areas: pd.DataFrame, *, start=STUDY_START, end=STUDY_END,
                     check_overlap: bool = True) -> pd.DataFrame:
    """Balanced area x month panel (contract columns, see the module docstring) from person spells.

    Parameters
    ----------
    spells : DataFrame
        Person-spell register (columns ``person_id, municipality, area, spell_start, spell_end, exit_reason``;
        other columns are ignored). May hold spells outside the window; those ending before ``start`` are used to
        find re-inflow only.
    areas : DataFrame
        One row per area (``municipality, area`` and optionally ``cohort_start``,
        ``counter_performance_start``, ``outreach_start``; a missing start column means never treated). Every area
        gets a row for every month, also when it has no spells.
    start, end : str or Timestamp
        First and last month of the panel (inclusive).
    check_overlap : bool
        Refuse registers in which a person's spells overlap (the stock counts spells, which equals persons only
        without overlap).

    Returns
    -------
    DataFrame
        Columns :data:`PANEL_COLUMNS`, sorted by municipality, area, period.

    Raises
    ------
    ValueError
        Missing or malformed columns (named in the message), overlapping spells, or spells in an area that the
        area file does not list.
    """
    _check_spells(spells)
    areas_in = _areas_frame(areas)
    start = pd.Timestamp(start).to_period("M").to_timestamp()
    end = pd.Timestamp(end).to_period("M").to_timestamp()
    if end < start:
        raise ValueError(f"build_area_panel: end {end:%Y-%m} lies before start {start:%Y-%m}")
    spells_in = spells[list(SPELL_COLUMNS)]
    known = pd.MultiIndex.from_frame(areas_in[["municipality", "area"]])
    spell_keys = pd.MultiIndex.from_frame(spells_in[["municipality", "area"]].drop_duplicates())
    unknown = spell_keys.difference(known)
    if len(unknown):
        raise ValueError(f"spells: column area has values not in the area file, e.g. {unknown[0]}")
    con = duckdb.connect()
    try:
        con.register("spells_in", spells_in)
        con.register("areas_in", areas_in)
        if check_overlap:
            n_overlap, person = con.execute(_OVERLAP_SQL).fetchone()
            if n_overlap:
                raise ValueError(f"spells: {n_overlap} spell(s) overlap an earlier spell of the same person "
                                 f"(columns spell_start/spell_end), e.g. person_id {person}")
        params = {"lo": month_to_period(start), "hi": month_to_period(end),
                  "start": start.date(), "end": end.date()}
        panel = con.execute(_PANEL_SQL, params).df()
    finally:
        con.close()
    panel["month"] = panel["month"].astype("datetime64[ns]")
    for column in ("period", *COUNT_COLUMNS, *_START_COLUMNS):
        panel[column] = panel[column].astype(np.int64)
    add_rates(panel)
    return panel[list(PANEL_COLUMNS)].reset_index(drop=True)
