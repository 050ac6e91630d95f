"""Fixtures shared by the reference tests."""

from __future__ import annotations

import moderndid
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def mpdta() -> pd.DataFrame:
    """The ``mpdta`` panel the R reference outputs were computed on (shipped with the declared ``moderndid``)."""
    data = moderndid.load_mpdta()
    return data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)
