"""Statistical disclosure control for output from CBS microdata.

CBS Remote Access releases output only if no table cell and no plotted group describes fewer than **10 persons**
(the minimum-frequency rule; stricter rules such as dominance apply to business data and are not handled here).
Two tools:

* :func:`check_disclosure` -- a gate: raises :class:`DisclosureError` naming every unsafe cell, so a notebook
  cannot write an unsafe table by accident;
* :func:`suppress_small_cells` -- returns a copy in which unsafe cells and the values derived from them are blanked
  (primary suppression), plus the cells needed so that a blanked cell cannot be recovered by subtraction from a
  row or column total (secondary suppression, simple rule below).

Secondary suppression rule (deliberately simple, and conservative rather than minimal): a published total minus
the visible cells gives away a single hidden cell. So, repeatedly until nothing changes,

* in every **row** with exactly one suppressed count cell, also suppress the smallest remaining count cell of that
  row (the count columns of a row are assumed to add up to a row total that is, or could be, published);
* in every **column** (within each block of ``column_groups``) with exactly one suppressed cell, also suppress the
  smallest remaining cell of that column (the rows are assumed to add up to a published column total).

Turn either direction off when the table is not additive that way (e.g. ``at_risk``/``events`` of a survival
table: pass ``row_totals=False, column_totals=False``). The rule does not protect against every linear attack on
multi-dimensional tables (that needs an optimisation tool such as tau-ARGUS); it is the rule CBS output checkers
expect for the one- and two-way frequency tables this project publishes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Minimum number of persons per cell under the CBS microdata output rules.
CBS_MIN_COUNT = 10


class DisclosureError(ValueError):
    """A table would disclose a cell of fewer than the minimum number of persons.

    Attributes
    ----------
    cells
        ``(row_label, column, value)`` of every unsafe cell.
    """

    def __init__(self, message: str, cells: list[tuple[object, str, float]]):
        super().__init__(message)
        self.cells = cells


def _count_frame(table: pd.DataFrame, count_cols: Sequence[str]) -> pd.DataFrame:
    """The count columns as floats; raise ValueError naming a column that is missing, non-numeric or negative."""
    count_cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    if not count_cols:
        raise ValueError("count_cols must name at least one column")
    missing = [c for c in count_cols if c not in table.columns]
    if missing:
        raise ValueError(f"table is missing count column(s) {missing}; it has {list(table.columns)}")
    counts = {}
    for col in count_cols:
        values = table[col]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            raise ValueError(f"count column {col!r} must be numeric, got dtype {values.dtype}")
        values = values.astype(float)
        if (values < 0).any():
            raise ValueError(f"count column {col!r} has negative values (rows {list(table.index[values < 0][:5])})")
        counts[col] = values
    return pd.DataFrame(counts, index=table.index)


def _unsafe(counts: pd.DataFrame, min_count: int, allow_zero: bool) -> pd.DataFrame:
    """Boolean frame: cells with a count below ``min_count`` (NaN = already suppressed = safe)."""
    small = counts.notna() & (counts < min_count)
    if allow_zero:
        small &= counts != 0
    return small


def check_disclosure(
    table: pd.DataFrame,
    *,
    count_cols: Sequence[str] | str,
    min_count: int = CBS_MIN_COUNT,
    allow_zero: bool = False,
) -> None:
    """Raise :class:`DisclosureError` if any count cell is below ``min_count`` persons.

    Parameters
    ----------
    table
        Table to be released (one row per cell group, e.g. area x month or group x time).
    count_cols
        Columns holding numbers of persons behind the row (cell counts, group sizes, numbers at risk).
        A missing count (NaN) is read as an already suppressed cell and passes.
    min_count
        Minimum number of persons (CBS: 10).
    allow_zero
        Let empty cells (count 0) pass. Off by default: "nobody in this group" is itself a group disclosure
        unless the output checker agrees otherwise.

    Raises
    ------
    DisclosureError
        Naming every unsafe cell as ``row <label> column '<col>' = <count>``.
    ValueError
        If a count column is missing, non-numeric or negative.
    """
    counts = _count_frame(table, count_cols)
    unsafe = _unsafe(counts, min_count, allow_zero)
    if not unsafe.to_numpy().any():
        return
    row_pos, col_pos = np.nonzero(unsafe.to_numpy())
    labels = [label.item() if isinstance(label, np.generic) else label for label in counts.index]
    cells = [(labels[r], counts.columns[c], float(counts.iat[r, c])) for r, c in zip(row_pos, col_pos, strict=True)]
    listed = "; ".join(f"row {row!r} column {col!r} = {value:g}" for row, col, value in cells[:20])
    more = f" (and {len(cells) - 20} more)" if len(cells) > 20 else ""
    raise DisclosureError(
        f"{len(cells)} cell(s) describe fewer than {min_count} persons: {listed}{more}", cells
    )


def _secondary_pass(suppressed: np.ndarray, values: np.ndarray, axis: int, blocks: np.ndarray | None) -> bool:
    """Apply the 'exactly one suppressed -> also suppress the next-smallest' rule along one axis, in place.

    ``axis=1`` works row by row (over count columns), ``axis=0`` column by column (over rows, within ``blocks``).
    Returns True if anything changed.
    """
    changed = False
    if axis == 1:
        lines = [(np.array([r]), slice(None)) for r in range(suppressed.shape[0])]
    else:
        block_ids = np.zeros(suppressed.shape[0], dtype=int) if blocks is None else blocks
        lines = [(np.flatnonzero(block_ids == b), c) for b in np.unique(block_ids)
                 for c in range(suppressed.shape[1])]
    for rows, cols in lines:
        mask = suppressed[rows, cols].ravel()
        if mask.size < 2 or mask.sum() != 1:
            continue
        candidates = np.where(mask, np.inf, values[rows, cols].ravel())
        pick = int(np.argmin(candidates))  # smallest visible cell; first in order on ties
        if np.isinf(candidates[pick]):
            continue
        if axis == 1:
            suppressed[rows[0], pick] = True
        else:
            suppressed[rows[pick], cols] = True
        changed = True
    return changed


def suppress_small_cells(
    table: pd.DataFrame,
    *,
    count_cols: Sequence[str] | str,
    value_cols: Sequence[str] | Mapping[str, Sequence[str]] = (),
    min_count: int = CBS_MIN_COUNT,
    allow_zero: bool = False,
    row_totals: bool = True,
    column_totals: bool = True,
    column_groups: Sequence[str] | str | None = None,
    flag_col: str = "suppressed",
) -> pd.DataFrame:
    """Blank cells of fewer than ``min_count`` persons, the values derived from them, and their complements.

    Parameters
    ----------
    table
        Table to be released.
    count_cols
        Columns with numbers of persons (see :func:`check_disclosure`).
    value_cols
        Columns computed from the counts (rates, shares, estimates). A sequence means every value in a row depends
        on every count in that row, so any suppression in the row blanks them all. A mapping
        ``{count_col: [value_cols]}`` blanks only the values derived from the suppressed count.
    min_count, allow_zero
        As in :func:`check_disclosure`.
    row_totals, column_totals
        Apply secondary suppression along rows / columns (see module docstring for the rule).
    column_groups
        Columns whose values define blocks of rows that add up to a column total (e.g. ``"municipality"`` in a
        stacked table of areas); ``None`` treats the whole table as one block.
    flag_col
        Name of the boolean column added to mark rows with any suppressed cell. A second column
        ``f"{flag_col}_cells"`` lists them as ``"col(primary)"`` / ``"col(secondary)"`` separated by ``";"``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with count columns as float (NaN where suppressed), suppressed values NaN and the two
        flag columns. :func:`check_disclosure` passes on it.
    """
    counts = _count_frame(table, count_cols)
    count_names = list(counts.columns)
    if isinstance(value_cols, Mapping):
        dependants = {c: list(v) for c, v in value_cols.items()}
        unknown = [c for c in dependants if c not in count_names]
        if unknown:
            raise ValueError(f"value_cols maps from {unknown}, which are not count_cols {count_names}")
        all_values = sorted({v for vs in dependants.values() for v in vs})
    else:
        all_values = [value_cols] if isinstance(value_cols, str) else list(value_cols)
        dependants = None
    missing = [c for c in all_values if c not in table.columns]
    if missing:
        raise ValueError(f"table is missing value column(s) {missing}")
    overlap = sorted(set(all_values) & set(count_names))
    if overlap:
        raise ValueError(f"column(s) {overlap} are listed both as count_cols and value_cols")
    for name in (flag_col, f"{flag_col}_cells"):
        if name in table.columns:
            raise ValueError(f"flag column {name!r} already exists in the table")

    blocks = None
    if column_groups is not None:
        group_cols = [column_groups] if isinstance(column_groups, str) else list(column_groups)
        absent = [c for c in group_cols if c not in table.columns]
        if absent:
            raise ValueError(f"table is missing column_groups column(s) {absent}")
        blocks = table.groupby(group_cols, sort=False, dropna=False).ngroup().to_numpy()

    primary = _unsafe(counts, min_count, allow_zero).to_numpy()
    already = counts.isna().to_numpy()
    suppressed = primary | already
    values = counts.to_numpy()
    changed = True
    while changed:  # each pass only adds suppressions, so this ends
        changed = False
        if row_totals:
            changed |= _secondary_pass(suppressed, values, axis=1, blocks=None)
        if column_totals:
            changed |= _secondary_pass(suppressed, values, axis=0, blocks=blocks)
    secondary = suppressed & ~primary & ~already

    out = table.copy()
    newly = primary | secondary
    for j, col in enumerate(count_names):
        out[col] = counts[col].mask(newly[:, j])
    if dependants is None:
        row_hit = newly.any(axis=1)
        for col in all_values:
            out[col] = out[col].astype(float).mask(row_hit)
    else:
        for j, col in enumerate(count_names):
            for value_col in dependants.get(col, []):
                out[value_col] = out[value_col].astype(float).mask(newly[:, j])
    out[flag_col] = newly.any(axis=1)
    labels = []
    for i in range(len(out)):
        parts = [f"{c}(primary)" for j, c in enumerate(count_names) if primary[i, j]]
        parts += [f"{c}(secondary)" for j, c in enumerate(count_names) if secondary[i, j]]
        labels.append(";".join(parts))
    out[f"{flag_col}_cells"] = labels
    return out
