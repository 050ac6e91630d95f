"""CBS minimum-frequency rule: blocking, primary and secondary suppression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bijstand.report.disclosure import DisclosureError, check_disclosure, suppress_small_cells


def test_cell_of_nine_is_blocked_and_named():
    table = pd.DataFrame({"area": ["AMS01", "AMS02", "AMS03"], "n": [25, 9, 10], "rate": [0.1, 0.2, 0.3]},
                         index=[10, 11, 12])
    with pytest.raises(DisclosureError, match=r"1 cell\(s\) describe fewer than 10 persons: row 11 column 'n' = 9$") as info:
        check_disclosure(table, count_cols=["n"])
    assert isinstance(info.value, ValueError)
    assert info.value.cells == [(11, "n", 9.0)]


def test_cell_of_ten_passes():
    table = pd.DataFrame({"n": [10, 11, 500], "m": [10, 10, 10]})
    assert check_disclosure(table, count_cols=["n", "m"]) is None


def test_zero_cells_blocked_unless_allowed():
    table = pd.DataFrame({"n": [0, 12]})
    with pytest.raises(DisclosureError, match=r"row 0 column 'n' = 0"):
        check_disclosure(table, count_cols="n")
    check_disclosure(table, count_cols="n", allow_zero=True)


def test_bad_count_columns_are_named():
    table = pd.DataFrame({"n": [12, -1], "label": ["a", "b"]})
    with pytest.raises(ValueError, match=r"table is missing count column\(s\) \['persons'\]"):
        check_disclosure(table, count_cols=["persons"])
    with pytest.raises(ValueError, match=r"count column 'n' has negative values \(rows \[1\]\)"):
        check_disclosure(table, count_cols=["n"])
    with pytest.raises(ValueError, match=r"count column 'label' must be numeric"):
        suppress_small_cells(table, count_cols=["label"])
    with pytest.raises(ValueError, match=r"table is missing value column\(s\) \['rate'\]"):
        suppress_small_cells(table.assign(n=[12, 13]), count_cols=["n"], value_cols=["rate"])


def test_primary_suppression_blanks_count_and_derived_values():
    table = pd.DataFrame({"area": ["a", "b", "c"], "n": [9, 10, 40], "rate": [1.0, 2.0, 3.0]})
    out = suppress_small_cells(table, count_cols=["n"], value_cols=["rate"], column_totals=False)
    assert out["n"].isna().tolist() == [True, False, False]
    assert out["rate"].isna().tolist() == [True, False, False]
    assert out["suppressed"].tolist() == [True, False, False]
    assert out["suppressed_cells"].tolist() == ["n(primary)", "", ""]
    assert table["n"].tolist() == [9, 10, 40]  # input untouched
    check_disclosure(out, count_cols=["n"])


def test_secondary_suppression_in_a_row():
    # work + enforcement + other = published outflow; hiding only work=9 would leave it recoverable.
    table = pd.DataFrame({"work": [9], "enforcement": [30], "other": [40], "work_share": [0.114]})
    out = suppress_small_cells(table, count_cols=["work", "enforcement", "other"], value_cols=["work_share"])
    assert out[["work", "enforcement", "other"]].isna().iloc[0].tolist() == [True, True, False]
    assert out.loc[0, "other"] == 40
    assert out.loc[0, "suppressed_cells"] == "work(primary);enforcement(secondary)"
    assert np.isnan(out.loc[0, "work_share"])


def test_secondary_suppression_propagates_over_rows_and_columns():
    # A: 9 is primary; row A -> 30 secondary; column 0 and 1 then hold one hidden cell each -> B's 50 and 60.
    table = pd.DataFrame({"c0": [9, 50], "c1": [30, 60], "c2": [40, 70]}, index=["A", "B"])
    out = suppress_small_cells(table, count_cols=["c0", "c1", "c2"])
    assert out.isna()[["c0", "c1", "c2"]].to_numpy().tolist() == [[True, True, False], [True, True, False]]
    assert out["suppressed_cells"].tolist() == ["c0(primary);c1(secondary)", "c0(secondary);c1(secondary)"]
    only_rows = suppress_small_cells(table, count_cols=["c0", "c1", "c2"], column_totals=False)
    assert only_rows.isna()[["c0", "c1", "c2"]].to_numpy().tolist() == [[True, True, False], [False, False, False]]


def test_column_groups_limit_column_totals_to_blocks():
    table = pd.DataFrame({"municipality": ["GM0363", "GM0363", "GM0599", "GM0599"],
                          "n": [9, 20, 30, 15]})
    out = suppress_small_cells(table, count_cols=["n"], column_groups="municipality")
    # Amsterdam's total would give the 9 away -> its 20 goes too; Rotterdam is untouched.
    assert out["n"].isna().tolist() == [True, True, False, False]
    pooled = suppress_small_cells(table, count_cols=["n"])
    assert pooled["n"].isna().tolist() == [True, False, False, True]  # next-smallest of the whole column: 15


def test_mapping_value_cols_blank_only_dependants():
    table = pd.DataFrame({"n_work": [9, 40], "n_other": [50, 60], "work_rate": [0.1, 0.2], "other_rate": [0.5, 0.6]})
    out = suppress_small_cells(table, count_cols=["n_work", "n_other"],
                               value_cols={"n_work": ["work_rate"], "n_other": ["other_rate"]},
                               column_totals=False)
    # row 0: n_work primary, n_other secondary (only other cell in the row) -> both rates go
    assert out["work_rate"].isna().tolist() == [True, False]
    assert out["other_rate"].isna().tolist() == [True, False]
    out = suppress_small_cells(table, count_cols=["n_work", "n_other"], value_cols={"n_work": ["work_rate"]},
                               row_totals=False, column_totals=False)
    assert out["work_rate"].isna().tolist() == [True, False]
    assert out["other_rate"].tolist() == [0.5, 0.6]


@pytest.mark.parametrize("seed", range(20))
def test_nothing_below_ten_survives_random_tables(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = rng.integers(2, 9), rng.integers(2, 6)
    counts = rng.integers(0, 40, size=(n_rows, n_cols))
    cols = [f"n{j}" for j in range(n_cols)]
    table = pd.DataFrame(counts, columns=cols)
    table["share"] = rng.random(n_rows)
    out = suppress_small_cells(table, count_cols=cols, value_cols=["share"])
    check_disclosure(out, count_cols=cols)  # must not raise
    hidden = out[cols].isna().to_numpy()
    assert np.all(hidden[counts < 10])  # every small cell is gone ...
    assert np.all(out["share"].isna().to_numpy()[(counts < 10).any(axis=1)])  # ... with its derived value
    # secondary rule holds: no row and no column with exactly one hidden cell
    assert not np.any(hidden.sum(axis=1) == 1)
    assert not np.any(hidden.sum(axis=0) == 1)
    # and nothing safe was hidden without a reason: visible cells keep their values
    assert np.array_equal(out[cols].to_numpy()[~hidden], counts[~hidden])
