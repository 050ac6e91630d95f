"""Real CBS (Statistics Netherlands) figures on social assistance: vendored loaders and an OData client.

Everything here is public CBS StatLine data, licence CC BY 4.0, attribution "Bron: CBS". The figures the project
uses are vendored as small tidy CSV files in ``<repo>/data/external/cbs/`` (see ``PROVENANCE.md`` there for table
ids, transformations and sha256 checksums), so nothing downloads at run or test time. A user who is online can
extend them with :func:`refresh_vendored`, which goes through :func:`fetch_cbs_table`.

CBS conventions handled in one place (:func:`tidy_cbs_records`):

* dimension codes are padded with spaces (``"GM0363  "``) -> stripped;
* ``"."`` (not available), ``"x"`` (secret) and empty strings -> ``NaN``;
* period codes ``2017JJ00`` (year), ``2017HJ01`` (half-year), ``2019KW02`` (quarter), ``2018MM03`` (month) -> the
  columns ``period_code``, ``period_type``, ``year`` and ``period_start`` (first day of the period).

Loaders (all return new DataFrames; measures are ``float64`` so that ``NaN`` can mark CBS's ``"."``):

* :func:`load_municipal_figures` - per region and year 2015-2017 (tables 83450NED, 83747NED, 84066NED);
* :func:`load_national_monthly` - national number of bijstand benefits x1000, monthly 1998-2018 (37789ksz);
* :func:`load_national_quarterly_flows` - national inflow / re-inflow / outflow, quarterly 2019-2023 (82662NED);
* :func:`load_national_quarterly_stock` - national persons with bijstand, quarterly 2019-2022 (85585NED).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------------------

LICENCE = "CC BY 4.0"
ATTRIBUTION = "Bron: CBS"

MUNICIPALITY_NAMES: dict[str, str] = {
    "GM0363": "Amsterdam",
    "GM0599": "Rotterdam",
    "GM0362": "Amstelveen",
    "GM0307": "Amersfoort",
    "GM0518": "'s-Gravenhage",
    "GM0344": "Utrecht",
    "GM0014": "Groningen",
    "GM0855": "Tilburg",
    "GM0268": "Nijmegen",
    "GM0150": "Deventer",
    "GM0289": "Wageningen",
    "GM0034": "Almere",
}
"""CBS municipality code -> name, for the municipalities named in the seed documents and usual comparisons.
A full list is CBS table "Gebieden in Nederland" (fetch it with :func:`fetch_cbs_table`)."""

AGE_GROUPS: dict[str, str] = {
    "20150": "15 years and older",
    "90100": "15 years to AOW (state pension) age",
    "90200": "AOW age and older",
}
"""CBS ``Leeftijd`` codes in the municipal tables."""

MUNICIPAL_TABLES: dict[str, int] = {"83450NED": 2015, "83747NED": 2016, "84066NED": 2017}
""""Sociale zekerheid; bijstand, re-integratie en WSW, gemeenten": table id -> reporting year."""

MUNICIPAL_COLUMNS: list[str] = [
    "table_id", "year", "age_group_code", "region_code", "inwoners", "bijstandsontvangers", "dichtheid_per1000",
    "instroom", "instroom_pct", "uitstroom", "uitstroom_pct", "uitstroom_werk", "uitstroom_werk_pct",
]
MUNICIPAL_MEASURES: list[str] = MUNICIPAL_COLUMNS[4:]

# The municipal tables rename their measures between years (Instromers_4 in 2015, Instroom_4 in 2016-17) but keep
# the position suffix; map by suffix and check the stem so that a re-ordered future table fails loudly instead
# of silently shifting columns.
_MUNICIPAL_MEASURE_BY_SUFFIX: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("inwoners", ("Inwoners",)),
    2: ("bijstandsontvangers", ("Bijstandsontvangers",)),
    3: ("dichtheid_per1000", ("Bijstandsdichtheid",)),
    4: ("instroom", ("Instromers", "Instroom")),
    5: ("instroom_pct", ("Instromers", "Instroom")),
    6: ("uitstroom", ("Uitstromers", "Uitstroom")),
    7: ("uitstroom_pct", ("Uitstromers", "Uitstroom")),
    8: ("uitstroom_werk", ("UitstromersNaarWerk", "UitstroomNaarWerk")),
    9: ("uitstroom_werk_pct", ("UitstromersNaarWerk", "UitstroomNaarWerk")),
}

NATIONAL_MONTHLY_TABLE = "37789ksz"
NATIONAL_MONTHLY_KEYS: dict[str, str] = {
    "TotaalBijstandsuitkeringen_11": "benefits_total_thousands",
    "BijstandsuitkeringenTotDeAOWLeeftijd_12": "benefits_below_aow_thousands",
}

VENDORED_FILES: dict[str, str] = {
    "municipal": "cbs_bijstand_gemeenten_2015_2017.csv",
    "national_monthly": "cbs_37789ksz_bijstand_monthly_1998_2018.csv",
    "national_quarterly_flows": "cbs_82662NED_quarterly_flows_2019_2023.csv",
    "national_quarterly_stock": "cbs_85585NED_quarterly_stock_2019_2022.csv",
}
"""Role -> file name of each vendored file in the CBS data folder."""

ODATA_FEED_URL = "https://opendata.cbs.nl/ODataFeed/odata"
"""CBS OData v3 bulk feed (no 10,000-row cap; pages through ``odata.nextLink``)."""

MISSING_MARKERS = frozenset({"", ".", "x"})
"""CBS symbols read as missing: ``.`` not available, ``x`` secret (disclosure control), empty = no value."""

_PERIOD_RE = re.compile(r"^(?P<year>\d{4})(?P<kind>JJ|HJ|KW|MM)(?P<number>\d{2})$")
_PERIOD_TYPES = {"JJ": "year", "HJ": "half-year", "KW": "quarter", "MM": "month"}
_MEASURE_KEY_RE = re.compile(r"_(\d+)$")


# --------------------------------------------------------------------------------------------------------------
# Locating the vendored folder
# --------------------------------------------------------------------------------------------------------------


def _find_repo_root(start: Path | None = None) -> Path:
    """First parent of this package that holds ``data/external/cbs`` or ``pyproject.toml``."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        if (parent / "data" / "external" / "cbs").is_dir() or (parent / "pyproject.toml").is_file():
            return parent
    raise FileNotFoundError(
        f"cannot locate the repository root above {here}; pass data_dir= pointing at data/external/cbs"
    )


def default_cbs_dir() -> Path:
    """``$BIJSTAND_CBS_DIR`` if set, else ``<repo>/data/external/cbs`` (repo found from this package's path)."""
    env = os.environ.get("BIJSTAND_CBS_DIR")
    if env:
        return Path(env)
    return _find_repo_root() / "data" / "external" / "cbs"


def _vendored_path(role: str, data_dir: str | os.PathLike | None) -> Path:
    folder = Path(data_dir) if data_dir is not None else default_cbs_dir()
    path = folder / VENDORED_FILES[role]
    if not path.is_file():
        raise FileNotFoundError(
            f"vendored CBS file {path} not found; pass data_dir= or restore data/external/cbs (see PROVENANCE.md)"
        )
    return path


# --------------------------------------------------------------------------------------------------------------
# Pure parsing (used by the loaders and the OData client alike)
# --------------------------------------------------------------------------------------------------------------


def parse_period_codes(codes: Iterable[str]) -> pd.DataFrame:
    """Parse CBS period codes into calendar columns.

    Parameters
    ----------
    codes
        Codes such as ``"2017JJ00"`` (year), ``"2017HJ02"`` (half-year), ``"2019KW02"`` (quarter) or
        ``"2018MM03"`` (month); surrounding spaces are ignored.

    Returns
    -------
    pandas.DataFrame
        ``period_code`` (str, stripped), ``period_type`` (``"year"|"half-year"|"quarter"|"month"``), ``year``
        (int64) and ``period_start`` (datetime64[ns], first day of the period), in input order.

    Raises
    ------
    ValueError
        On a code that is not of this form, naming the code and its position.
    """
    stripped = [str(code).strip() for code in codes]
    period_types, years, starts = [], [], []
    for position, code in enumerate(stripped):
        match = _PERIOD_RE.match(code)
        number = int(match["number"]) if match else -1
        kind = match["kind"] if match else ""
        valid = match is not None and {
            "JJ": number == 0, "HJ": 1 <= number <= 2, "KW": 1 <= number <= 4, "MM": 1 <= number <= 12,
        }[kind]
        if not valid:
            raise ValueError(
                f"Perioden: cannot parse CBS period code {code!r} at position {position}; "
                "expected YYYYJJ00, YYYYHJnn, YYYYKWnn or YYYYMMnn"
            )
        year = int(match["year"])
        first_month = {"JJ": 1, "HJ": 6 * (number - 1) + 1, "KW": 3 * (number - 1) + 1, "MM": number}[kind]
        period_types.append(_PERIOD_TYPES[kind])
        years.append(year)
        starts.append(pd.Timestamp(year=year, month=first_month, day=1))
    return pd.DataFrame({
        "period_code": pd.Series(stripped, dtype=object),
        "period_type": pd.Series(period_types, dtype=object),
        "year": pd.Series(years, dtype="int64"),
        "period_start": pd.Series(pd.to_datetime(starts) if starts else [], dtype="datetime64[ns]"),
    })


def _is_measure_key(column: str) -> bool:
    # CBS OData v3 names every measure "<Key>_<position>" (Inwoners_1) and every dimension without a suffix
    # (Leeftijd, RegioS, Perioden); that is the only signal available without a second $metadata request.
    return bool(_MEASURE_KEY_RE.search(column))


def tidy_cbs_records(records: pd.DataFrame | Sequence[Mapping[str, Any]], *,
                     dimensions: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy rows of a CBS table (from OData ``value`` records or a StatLine CSV).

    Parameters
    ----------
    records
        Rows with CBS keys as columns (typed or untyped data set: numbers, ``null``, or padded strings).
    dimensions
        Columns to keep as (stripped) strings. Default: every column whose key lacks CBS's ``_<n>`` measure
        suffix, except ``ID`` (a row counter, dropped).

    Returns
    -------
    pandas.DataFrame
        Dimension columns as stripped ``str``; measure columns as ``float64`` with ``NaN`` for ``.``/``x``/empty;
        a ``Perioden`` column, if present, replaced by ``period_code``, ``period_type``, ``year``,
        ``period_start`` (see :func:`parse_period_codes`).

    Raises
    ------
    ValueError
        When a measure column holds a value that is neither numeric nor a CBS missing marker (naming column,
        row and value), or a period code is malformed.
    """
    frame = pd.DataFrame(records).copy()
    frame = frame.drop(columns=[c for c in ("ID",) if c in frame.columns])
    dimension_set = set(dimensions) if dimensions is not None else {
        c for c in frame.columns if not _is_measure_key(str(c))
    }
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column in dimension_set:
            out[column] = values.map(lambda v: v.strip() if isinstance(v, str) else v).astype(object)
            continue
        as_text = values.map(lambda v: v.strip() if isinstance(v, str) else v)
        as_text = as_text.map(lambda v: np.nan if (v is None or (isinstance(v, str) and v in MISSING_MARKERS)) else v)
        numeric = pd.to_numeric(as_text, errors="coerce")
        bad = numeric.isna() & as_text.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{column}: value {as_text.iloc[row]!r} in row {row} (0-based) is neither a number nor a CBS "
                "missing marker ('.', 'x', empty)"
            )
        out[column] = numeric.astype("float64")
    tidy = pd.DataFrame(out, index=frame.index)
    if "Perioden" in tidy.columns:
        periods = parse_period_codes(tidy["Perioden"].astype(str))
        periods.index = tidy.index
        position = list(tidy.columns).index("Perioden")
        tidy = tidy.drop(columns="Perioden")
        for offset, column in enumerate(periods.columns):
            tidy.insert(position + offset, column, periods[column])
    return tidy.reset_index(drop=True)


def parse_odata_response(payloads: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                         dimensions: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy one or more CBS OData JSON pages (``{"odata.metadata": ..., "value": [...]}``).

    Parameters
    ----------
    payloads
        A decoded JSON page, or a list of pages (as returned when following ``odata.nextLink``).
    dimensions
        Passed to :func:`tidy_cbs_records`.

    Returns
    -------
    pandas.DataFrame
        The concatenated ``value`` rows, tidied by :func:`tidy_cbs_records`.

    Raises
    ------
    ValueError
        If a page has no ``value`` list (e.g. an OData error object), quoting the error message if present.
    """
    pages = [payloads] if isinstance(payloads, Mapping) else list(payloads)
    rows: list[Mapping[str, Any]] = []
    for number, page in enumerate(pages, start=1):
        if not isinstance(page, Mapping) or not isinstance(page.get("value"), list):
            detail = page.get("odata.error", page) if isinstance(page, Mapping) else page
            raise ValueError(f"CBS OData page {number} has no 'value' list: {str(detail)[:300]}")
        rows.extend(page["value"])
    return tidy_cbs_records(rows, dimensions=dimensions)


# --------------------------------------------------------------------------------------------------------------
# OData client
# --------------------------------------------------------------------------------------------------------------


def _odata_params(filters: str | None, select: Sequence[str] | str | None) -> dict[str, str]:
    params = {"$format": "json"}
    if filters:
        params["$filter"] = filters
    if select:
        params["$select"] = select if isinstance(select, str) else ",".join(select)
    return params


def fetch_cbs_pages(table_id: str, *, filters: str | None = None, select: Sequence[str] | str | None = None,
                    session: Any = None, dataset: str = "TypedDataSet", base_url: str = ODATA_FEED_URL,
                    timeout: float = 60.0) -> list[dict]:
    """Download the raw JSON pages of a CBS table (following ``odata.nextLink``); see :func:`fetch_cbs_table`."""
    if not re.fullmatch(r"[0-9A-Za-z]{5,12}", table_id):
        raise ValueError(f"table_id: {table_id!r} does not look like a CBS table id (e.g. '83450NED')")
    if session is None:
        from bijstand.extras import extra_required

        with extra_required("cbs", "downloading CBS tables"):
            import requests  # imported lazily: only online use needs it

        session = requests.Session()
    url: str | None = f"{base_url.rstrip('/')}/{table_id}/{dataset}"
    params: dict[str, str] | None = _odata_params(filters, select)
    pages = []
    while url is not None:
        response = session.get(url, params=params, timeout=timeout)
        response.raise_for_status()
        page = response.json()
        pages.append(page)
        url = page.get("odata.nextLink")
        params = None  # the next link already carries the query
    return pages


def fetch_cbs_table(table_id: str, *, filters: str | None = None, select: Sequence[str] | str | None = None,
                    session: Any = None, dataset: str = "TypedDataSet", base_url: str = ODATA_FEED_URL,
                    timeout: float = 60.0) -> pd.DataFrame:
    """Download a CBS StatLine table through OData v3 and return it tidy.

    Uses plain ``requests`` rather than :mod:`cbsodata` because ``cbsodata`` opens a new ``requests.Session``
    inside every call and so offers no way to inject a transport (needed for offline tests and for proxies
    with custom auth); the URL scheme and paging are the same as ``cbsodata.get_data``.

    Parameters
    ----------
    table_id
        CBS table identifier, e.g. ``"83450NED"`` or ``"37789ksz"``.
    filters
        OData ``$filter`` expression, e.g. ``"substringof('GM0363', RegioS)"`` or ``"Perioden eq '2017JJ00'"``.
    select
        Columns to request (``$select``); a list or a comma-separated string.
    session
        Object with ``get(url, params=..., timeout=...)`` returning a response with ``raise_for_status()`` and
        ``json()`` (a ``requests.Session`` by default).
    dataset
        ``"TypedDataSet"`` (numbers and ``null``) or ``"UntypedDataSet"`` (padded strings with ``"."``).
    base_url
        OData root, default the CBS bulk feed.
    timeout
        Seconds per request.

    Returns
    -------
    pandas.DataFrame
        Tidy table (see :func:`tidy_cbs_records`): dimension codes stripped, missing markers as ``NaN``, periods
        parsed into ``period_code``, ``period_type``, ``year``, ``period_start``.
    """
    pages = fetch_cbs_pages(table_id, filters=filters, select=select, session=session, dataset=dataset,
                            base_url=base_url, timeout=timeout)
    return parse_odata_response(pages)


def municipal_from_cbs(tidy: pd.DataFrame, *, table_id: str, year: int) -> pd.DataFrame:
    """Map a tidy municipal table (83450NED-like) to the vendored municipal format.

    Parameters
    ----------
    tidy
        Output of :func:`tidy_cbs_records` / :func:`fetch_cbs_table` with ``Leeftijd``, a region dimension
        (``Regiokenmerken`` or ``RegioS``) and measures ``<Stem>_1`` .. ``<Stem>_9``.
    table_id, year
        Written into the ``table_id`` and ``year`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MUNICIPAL_COLUMNS`.

    Raises
    ------
    ValueError
        If a required measure is missing or its key stem is not the expected one (a re-ordered table).
    """
    region_column = next((c for c in ("Regiokenmerken", "RegioS") if c in tidy.columns), None)
    if region_column is None or "Leeftijd" not in tidy.columns:
        raise ValueError(f"table {table_id}: expected columns 'Leeftijd' and 'Regiokenmerken'/'RegioS'")
    by_suffix = {int(_MEASURE_KEY_RE.search(c).group(1)): c for c in tidy.columns if _is_measure_key(str(c))}
    out = pd.DataFrame({
        "table_id": table_id,
        "year": np.int64(year),
        "age_group_code": tidy["Leeftijd"].astype(str),
        "region_code": tidy[region_column].astype(str),
    })
    for suffix, (name, stems) in _MUNICIPAL_MEASURE_BY_SUFFIX.items():
        key = by_suffix.get(suffix)
        if key is None or not key.rsplit("_", 1)[0] in stems:
            raise ValueError(
                f"table {table_id}: measure {name} expected as one of {[f'{s}_{suffix}' for s in stems]}, "
                f"found {key!r}"
            )
        out[name] = tidy[key].astype("float64").to_numpy()
    return out[MUNICIPAL_COLUMNS]


# --------------------------------------------------------------------------------------------------------------
# Loaders of the vendored files
# --------------------------------------------------------------------------------------------------------------


def _read_vendored_csv(path: Path) -> pd.DataFrame:
    # Read everything as text so that CBS codes keep their leading zeros and '.' stays visible to the tidier.
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def load_municipal_figures(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Bijstand figures per region, age group and year 2015-2017 (CBS 83450NED, 83747NED, 84066NED).

    Parameters
    ----------
    data_dir
        Folder with the vendored files (default :func:`default_cbs_dir`).

    Returns
    -------
    pandas.DataFrame
        One row per (year, age group, region) with columns :data:`MUNICIPAL_COLUMNS`:
        ``table_id`` (str), ``year`` (int64), ``age_group_code`` (str, see :data:`AGE_GROUPS`), ``region_code``
        (str, e.g. ``"NL01"``, ``"GM0363"``; padding stripped), and ``float64`` measures (``NaN`` where CBS has
        ``"."``): ``inwoners`` (inhabitants), ``bijstandsontvangers`` (persons with algemene bijstand),
        ``dichtheid_per1000`` (recipients per 1000 inhabitants), ``instroom``/``uitstroom``/``uitstroom_werk``
        (persons flowing in / out / out to work during the year) and their ``_pct`` versions, in % of persons
        with bijstand at the start of the year plus those who started during the year.
    """
    raw = _read_vendored_csv(_vendored_path("municipal", data_dir))
    measures = tidy_cbs_records(raw[MUNICIPAL_MEASURES], dimensions=())
    out = pd.DataFrame({
        "table_id": raw["table_id"].str.strip().astype(object),
        "year": raw["year"].astype("int64"),
        "age_group_code": raw["age_group_code"].str.strip().astype(object),
        "region_code": raw["region_code"].str.strip().astype(object),
    })
    for column in MUNICIPAL_MEASURES:
        out[column] = measures[column]
    return out


def load_national_monthly(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """National number of bijstand benefits per month, 1998-01 to 2018-11 (CBS 37789ksz, x1000).

    Parameters
    ----------
    data_dir
        Folder with the vendored files (default :func:`default_cbs_dir`).

    Returns
    -------
    pandas.DataFrame
        ``month`` (datetime64[ns], first of month), ``benefits_total_thousands`` (all algemene-bijstand
        benefits, thousands) and ``benefits_below_aow_thousands`` (benefits to persons below AOW age, thousands),
        ``float64`` with ``NaN`` where CBS has ``"."``. Annual ``JJ00`` rows are dropped.
    """
    tidy = tidy_cbs_records(_read_vendored_csv(_vendored_path("national_monthly", data_dir)))
    monthly = tidy[tidy["period_type"] == "month"]
    out = pd.DataFrame({"month": monthly["period_start"].astype("datetime64[ns]")})
    for key, name in NATIONAL_MONTHLY_KEYS.items():
        out[name] = monthly[key].astype("float64")
    return out.sort_values("month").reset_index(drop=True)


def _quarter_labels(codes: pd.Series, column: str) -> pd.Series:
    codes = codes.astype(str).str.strip()
    bad = ~codes.str.fullmatch(r"\d{4}Q[1-4]")
    if bad.any():
        raise ValueError(f"{column}: quarter {codes[bad].iloc[0]!r} is not of the form YYYYQn")
    return codes.astype(object)


def load_national_quarterly_flows(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """National bijstand inflow, re-inflow within a year and outflow per quarter, 2019Q1-2023Q4 (CBS 82662NED).

    Parameters
    ----------
    data_dir
        Folder with the vendored files (default :func:`default_cbs_dir`).

    Returns
    -------
    pandas.DataFrame
        ``quarter`` (str ``"2019Q1"``), ``inflow`` (persons starting bijstand), ``reinflow_within_1y`` (the part of
        inflow that had left bijstand less than a year before), ``outflow`` (persons leaving) - all int64, persons
        below AOW age - and ``provisional`` (bool, CBS marks 2022-23 as voorlopig).
    """
    raw = _read_vendored_csv(_vendored_path("national_quarterly_flows", data_dir))
    status = raw["status"].str.strip()
    unknown = ~status.isin(["def", "prov"])
    if unknown.any():
        raise ValueError(f"status: value {status[unknown].iloc[0]!r} is neither 'def' nor 'prov'")
    return pd.DataFrame({
        "quarter": _quarter_labels(raw["period"], "period"),
        "inflow": raw["instromers"].astype("int64"),
        "reinflow_within_1y": raw["herinstromers_binnen_een_jaar"].astype("int64"),
        "outflow": raw["uitstromers"].astype("int64"),
        "provisional": (status == "prov").astype(bool),
    })


def load_national_quarterly_stock(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """National number of persons with bijstand per quarter, 2019Q1-2022Q4 (CBS 85585NED).

    Parameters
    ----------
    data_dir
        Folder with the vendored files (default :func:`default_cbs_dir`).

    Returns
    -------
    pandas.DataFrame
        ``quarter`` (str ``"2019Q1"``) and ``persons`` (int64, all ages and durations).
    """
    raw = _read_vendored_csv(_vendored_path("national_quarterly_stock", data_dir))
    return pd.DataFrame({
        "quarter": _quarter_labels(raw["period"], "period"),
        "persons": raw["personen_met_bijstand"].astype("int64"),
    })


# --------------------------------------------------------------------------------------------------------------
# Checksums and refreshing
# --------------------------------------------------------------------------------------------------------------

PROVENANCE_FILE = "PROVENANCE.md"
_CHECKSUM_BEGIN = "<!-- sha256sum:begin -->"
_CHECKSUM_END = "<!-- sha256sum:end -->"


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def read_provenance_checksums(data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """File name -> sha256 as recorded in the ``sha256sum`` block of ``PROVENANCE.md``."""
    folder = Path(data_dir) if data_dir is not None else default_cbs_dir()
    text = (folder / PROVENANCE_FILE).read_text(encoding="utf-8")
    try:
        block = text.split(_CHECKSUM_BEGIN, 1)[1].split(_CHECKSUM_END, 1)[0]
    except IndexError as err:
        raise ValueError(f"{folder / PROVENANCE_FILE}: no checksum block between {_CHECKSUM_BEGIN} and "
                         f"{_CHECKSUM_END}") from err
    checksums = {}
    for line in block.splitlines():
        match = re.fullmatch(r"\s*([0-9a-f]{64})\s+\*?(\S+)\s*", line)
        if match:
            checksums[match.group(2)] = match.group(1)
    return checksums


def _write_checksums(folder: Path) -> dict[str, str]:
    provenance = folder / PROVENANCE_FILE
    checksums = {name: sha256_of(folder / name) for name in sorted(VENDORED_FILES.values())
                 if (folder / name).is_file()}
    block = "\n".join(f"{digest}  {name}" for name, digest in checksums.items())
    text = provenance.read_text(encoding="utf-8")
    head, rest = text.split(_CHECKSUM_BEGIN, 1)
    tail = rest.split(_CHECKSUM_END, 1)[1]
    _atomic_write_text(provenance, f"{head}{_CHECKSUM_BEGIN}\n```\n{block}\n```\n{_CHECKSUM_END}{tail}")
    return checksums


def _atomic_write_text(path: Path, text: str) -> None:
    # temp file in the same folder + os.replace: a crash never leaves a half-written vendored file behind
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _municipal_to_csv(frame: pd.DataFrame) -> str:
    # Same text format as the vendored file: CBS's "." for missing, one decimal for densities and percentages.
    text = frame.copy()
    for column in MUNICIPAL_MEASURES:
        decimals = 1 if column.endswith("_pct") or column == "dichtheid_per1000" else 0
        text[column] = frame[column].map(lambda v, d=decimals: "." if pd.isna(v) else f"{v:.{d}f}")
    return text.to_csv(index=False, lineterminator="\n")


def refresh_vendored(data_dir: str | os.PathLike | None = None, *,
                     municipal_tables: Mapping[str, int] | None = None, session: Any = None,
                     base_url: str = ODATA_FEED_URL) -> dict[str, str]:
    """Re-download the municipal tables from CBS, rewrite the vendored municipal file and its checksum.

    Intended for a user who is online and wants to extend the vendored figures with further years (pass
    ``municipal_tables={"83450NED": 2015, ..., "<newer id>": 2018}``; a table whose measures are ordered
    differently is refused, see :func:`municipal_from_cbs`). The file is written atomically and the
    ``sha256sum`` block of ``PROVENANCE.md`` is updated; describe new tables in ``PROVENANCE.md`` by hand. The
    national files are hand transcriptions of stored pages and are not touched.

    Parameters
    ----------
    data_dir
        Vendored folder (default :func:`default_cbs_dir`); must contain ``PROVENANCE.md``.
    municipal_tables
        Table id -> reporting year (default :data:`MUNICIPAL_TABLES`).
    session, base_url
        Passed to :func:`fetch_cbs_table`.

    Returns
    -------
    dict
        File name -> new sha256 of every vendored file.
    """
    folder = Path(data_dir) if data_dir is not None else default_cbs_dir()
    tables = dict(municipal_tables or MUNICIPAL_TABLES)
    frames = []
    for table_id, year in tables.items():
        tidy = fetch_cbs_table(table_id, session=session, base_url=base_url,
                               dataset="UntypedDataSet")
        frames.append(municipal_from_cbs(tidy, table_id=table_id, year=year))
    municipal = pd.concat(frames, ignore_index=True)
    _atomic_write_text(folder / VENDORED_FILES["municipal"], _municipal_to_csv(municipal))
    return _write_checksums(folder)
