r"""How each reported number was made, and checks that the paper names only the methods that made its numbers.

Every number, table and figure a notebook writes through :class:`~bijstand.report.results.Results` may carry a
provenance record (:class:`MethodRecord`): the estimator, its comparison group and covariates, the aggregation
with its cells and window, the cluster variable and number of clusters, the inference method with its critical
value or number of draws, the level and the data source. This module holds

* the controlled vocabulary :data:`METHODS`: every method id a record may use, with the phrases by which a paper
  may name it ("Callaway–Sant'Anna", "randomisation inference", ...);
* the record types :class:`MethodRecord` (how one output was made) and :class:`OutputRecord` (one number, table
  or figure of a run with its method records and disclosure status), read back from the results files by
  :func:`output_records`;
* the checks the paper build runs (:mod:`bijstand.report.paper`):

  - :func:`unsupported_methods` -- method phrases in the text whose method produced none of the quoted outputs;
  - :func:`inconsistent_numbers` -- placeholders whose sentence names an estimator or inference method other
    than the one recorded for that number (the *sentence rule* below);
  - :func:`inconsistent_caption` -- a table's or figure's caption naming a method its item was not made with;

* :func:`methods_statement`, the generated sentence behind the ``{{methods:RUN}}`` placeholder;
* :func:`disclosure_record` and :func:`disclosure_note`, what an output's disclosure status is and how a caption
  states it.

Matching rules
--------------
A phrase matches case-insensitively (an all-capitals acronym such as ``TWFE`` only as written), across line
breaks, with a space and a hyphen treated alike ("two-way fixed-effects" matches "two-way fixed effects") and
typographic dashes and apostrophes read as ``-`` and ``'``. It must stand as whole words: "Borusyak" does not match
the citation key ``@borusyak2024``, so citing a paper never counts as naming its method. Not searched: math
(``$...$``), code, HTML comments, placeholders, and spans marked ``[...]{.mention}`` -- the way to name a method
the paper discusses but does not use ("[two-way fixed effects]{.mention} regressions, which municipal evaluations
run, ..."); pandoc prints such a span as its plain text. Where phrases overlap the longest wins ("restricted wild
cluster bootstrap" over "wild cluster bootstrap"). A phrase listed under several ids (the generic "wild cluster
bootstrap" under both the restricted and the unrestricted bootstrap) is supported when any of them was used.

The sentence rule
-----------------
A placeholder's sentence runs from the previous sentence end to the next: a ``.``, ``!`` or ``?`` followed by
white space and not by a lower-case letter (and not ending an abbreviation such as "e.g." or an initial), a blank
line, or a heading. Semicolons do not end sentences. For each method kind (estimator, inference, covariates) that
the sentence names, the placeholder's records must include one of the named methods; otherwise the placeholder
is inconsistent. So "The wild cluster bootstrap gives $p$ = {{num:r/p_wild}} and randomisation inference
$p$ = {{num:r/p_ri}}" is consistent when each number was made by one of the two. Exempt: records whose estimator
is not an estimate (``descriptive``, ``truth``: a true effect quoted beside an estimate is not made by the
estimator the sentence names) and, for the inference check, records without an inference method. "Doubly
robust" is checked only against Callaway–Sant'Anna records: it requires covariates. ``{{tabref:...}}`` and
``{{figref:...}}`` are checked the same way against all the records of their table or figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Minimum number of persons per cell under the CBS microdata output rules (as in :mod:`.disclosure`).
from bijstand.report.disclosure import CBS_MIN_COUNT

__all__ = [
    "AGGREGATIONS", "CONTROL_GROUPS", "DISCLOSURE_STATUSES", "METHODS", "Inconsistency", "Method",
    "MethodMention", "MethodRecord", "OutputRecord", "disclosure_note", "disclosure_record", "find_mentions",
    "inconsistent_caption", "inconsistent_numbers", "method_records", "methods_statement", "output_records",
    "sentence_spans", "unsupported_methods",
]


@dataclass(frozen=True)
class Method:
    """One entry of the vocabulary.

    Attributes
    ----------
    id
        Identifier used in records (``"callaway_santanna"``).
    kind
        ``"estimator"``, ``"inference"`` or ``"covariates"``.
    name
        How :func:`methods_statement` prints it.
    phrases
        The phrases by which a paper may name it (see the matching rules of the module).
    estimate
        For estimators: whether the method makes estimates. ``False`` for ``descriptive`` (counts and shares
        read from data) and ``truth`` (the simulator's stored true effects), which no sentence check applies to.
    """

    id: str
    kind: str
    name: str
    phrases: tuple[str, ...] = ()
    estimate: bool = True


_WILD = ("wild cluster bootstrap", "wild bootstrap", "wild-cluster bootstrap")

#: The controlled vocabulary: method id -> :class:`Method`. Order is the order of :func:`methods_statement`.
METHODS: dict[str, Method] = {m.id: m for m in (
    # estimators
    Method("callaway_santanna", "estimator", "Callaway\u2013Sant'Anna",
           ("Callaway and Sant'Anna", "Callaway-Sant'Anna", "Callaway & Sant'Anna", "Callaway\u2013Sant'Anna")),
    Method("imputation", "estimator", "Borusyak\u2013Jaravel\u2013Spiess imputation estimator",
           ("imputation estimator", "imputation estimate", "imputation estimates", "Borusyak",
            "did_imputation", "BJS")),
    Method("sun_abraham", "estimator", "Sun\u2013Abraham interaction-weighted estimator",
           ("Sun and Abraham", "Sun-Abraham", "interaction-weighted", "interaction weighted")),
    Method("twfe", "estimator", "two-way fixed effects",
           ("two-way fixed effects", "two-way fixed effect", "TWFE")),
    Method("bacon", "estimator", "Goodman-Bacon decomposition",
           ("Bacon decomposition", "Goodman-Bacon", "Goodman\u2013Bacon")),
    Method("honest_did", "estimator", "Rambachan\u2013Roth sensitivity analysis (HonestDiD)",
           ("HonestDiD", "Honest DiD", "Rambachan and Roth", "Rambachan-Roth", "relative magnitudes",
            "relative-magnitude bounds", "relative magnitude bounds", "breakdown value")),
    Method("cox", "estimator", "Cox proportional hazards",
           ("Cox proportional hazards", "Cox", "proportional hazards", "proportional-hazards")),
    Method("kaplan_meier", "estimator", "Kaplan\u2013Meier", ("Kaplan-Meier", "Kaplan and Meier")),
    Method("aalen_johansen", "estimator", "Aalen\u2013Johansen cumulative incidence",
           ("Aalen-Johansen", "Aalen and Johansen")),
    Method("nearest_neighbours", "estimator", "nearest-neighbour matching",
           ("nearest neighbours", "nearest neighbors", "nearest neighbour", "nearest neighbor")),
    Method("descriptive", "estimator", "descriptive statistics", estimate=False),
    Method("truth", "estimator", "true values of the simulation", estimate=False),
    # inference
    Method("analytic_t", "inference", "analytic standard errors with t(G\u22121) critical values",
           ("t(G-1)", "t(G - 1)", "analytic standard errors", "analytic standard error", "analytic t",
            "cluster-robust standard errors", "cluster-robust standard error")),
    Method("analytic_normal", "inference", "analytic standard errors with normal critical values",
           ("normal critical value", "normal critical values", "normal approximation",
            "cluster-robust standard errors", "cluster-robust standard error")),
    Method("wild_restricted", "inference", "restricted wild cluster bootstrap",
           ("restricted wild cluster bootstrap", "restricted wild bootstrap", "WCR", *_WILD)),
    Method("wild_unrestricted", "inference", "unrestricted wild cluster bootstrap",
           ("unrestricted wild cluster bootstrap", "unrestricted wild bootstrap", "WCU", *_WILD)),
    Method("randomization", "inference", "randomisation inference",
           ("randomisation inference", "randomization inference", "randomisation test", "randomization test",
            "permutation test", "permutation inference")),
    Method("multiplier_bootstrap", "inference", "multiplier bootstrap", ("multiplier bootstrap",)),
    # covariates
    Method("doubly_robust", "covariates", "doubly robust", ("doubly robust", "doubly-robust")),
)}

#: Comparison groups (R ``did``'s spellings accepted as aliases) and how :func:`methods_statement` prints them.
CONTROL_GROUPS: dict[str, str] = {"never": "never-treated controls", "notyet": "not-yet-treated controls"}
_CONTROL_ALIASES = {"nevertreated": "never", "notyettreated": "notyet", "never_treated": "never",
                    "not_yet_treated": "notyet"}
#: Aggregations of group-time effects (R ``did``'s ``aggte`` types; ``event_study`` = ``dynamic``).
AGGREGATIONS: dict[str, str] = {"simple": "simple aggregation", "dynamic": "event-study aggregation",
                                "group": "aggregation by group", "calendar": "aggregation by calendar time"}
_AGGREGATION_ALIASES = {"event_study": "dynamic", "event-study": "dynamic"}
#: Inference methods that need clusters, and those that need a number of draws (bootstrap draws, permutations).
_CLUSTERED = ("analytic_t", "wild_restricted", "wild_unrestricted")
_DRAWN = ("wild_restricted", "wild_unrestricted", "randomization", "multiplier_bootstrap")
#: Estimators for which "doubly robust" means something (covariates in outcome regression and propensity score).
_DOUBLY_ROBUST_ESTIMATORS = ("callaway_santanna",)


def _ids(kind: str) -> tuple[str, ...]:
    return tuple(m.id for m in METHODS.values() if m.kind == kind)


def _check_id(kind: str, value: Any) -> None:
    allowed = _ids(kind)
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; the vocabulary (bijstand.report.methods.METHODS) has "
                         f"{', '.join(allowed)}")


# --------------------------------------------------------------------------------------------- records

@dataclass(frozen=True)
class MethodRecord:
    r"""How one number, table or figure was made.

    Attributes
    ----------
    estimator
        A ``kind == "estimator"`` id of :data:`METHODS`, e.g. ``"callaway_santanna"``; ``"descriptive"`` for
        counts and shares read from data, ``"truth"`` for the simulator's true effects.
    control_group
        ``"never"`` or ``"notyet"`` (R's ``"nevertreated"``/``"notyettreated"`` accepted), or ``None``.
    covariates
        Names of the covariates passed to the estimator (empty: none). With Callaway–Sant'Anna, covariates make
        the estimate doubly robust; a paper may say "doubly robust" only then.
    aggregation
        ``"simple"``, ``"dynamic"`` (``"event_study"``), ``"group"``, ``"calendar"`` or ``None``.
    cells
        Which cells were aggregated, in words ("all post-treatment group-months", "event times 0 to 12").
    window
        The data window, in words ("2015-01 to 2021-12").
    cluster
        The cluster variable (``"area"``), or ``None`` when not clustered.
    n_clusters
        Number of clusters :math:`G`.
    inference
        A ``kind == "inference"`` id of :data:`METHODS` (``"analytic_t"``, ``"wild_restricted"``, ...) or ``None``
        for a point estimate without inference.
    critical_value
        The critical value of the intervals. For ``analytic_t`` and ``analytic_normal`` it is computed from
        ``alpha`` (and :math:`G - 1` degrees of freedom) when not given, and checked against them when given.
    n_draws
        Bootstrap draws or permutations (required by the bootstrap and randomisation methods).
    multiplier
        Distribution of the bootstrap weights (``"webb"``, ``"rademacher"``, ``"mammen"``), or ``None``.
    alpha
        One minus the confidence level (default 0.05).
    data_source
        What the output rests on, in words or as the run's ``data_source`` parameter (``"synthetic"``).

    Raises
    ------
    ValueError
        At construction, for an id not in the vocabulary, an unknown comparison group or aggregation, a missing
        cluster count or draw count the inference method needs, or a critical value that does not belong to
        ``alpha`` and the number of clusters.

    Examples
    --------
    >>> rec = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area",
    ...                    n_clusters=22, inference="analytic_t")
    >>> round(rec.critical_value, 3)
    2.08
    >>> sorted(rec.method_ids())
    ['analytic_t', 'callaway_santanna']
    """

    estimator: str
    control_group: str | None = None
    covariates: tuple[str, ...] = ()
    aggregation: str | None = None
    cells: str | None = None
    window: str | None = None
    cluster: str | None = None
    n_clusters: int | None = None
    inference: str | None = None
    critical_value: float | None = None
    n_draws: int | None = None
    multiplier: str | None = None
    alpha: float = 0.05
    data_source: str | None = None

    def __post_init__(self) -> None:
        _check_id("estimator", self.estimator)
        if self.inference is not None:
            _check_id("inference", self.inference)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        if isinstance(self.covariates, str):
            set_("covariates", (self.covariates,))
        set_("covariates", tuple(str(c) for c in self.covariates))
        if self.control_group is not None:
            group = _CONTROL_ALIASES.get(self.control_group, self.control_group)
            if group not in CONTROL_GROUPS:
                raise ValueError(f"unknown control_group {self.control_group!r}; use one of "
                                 f"{', '.join(CONTROL_GROUPS)} (or {', '.join(_CONTROL_ALIASES)})")
            set_("control_group", group)
        if self.aggregation is not None:
            aggregation = _AGGREGATION_ALIASES.get(self.aggregation, self.aggregation)
            if aggregation not in AGGREGATIONS:
                raise ValueError(f"unknown aggregation {self.aggregation!r}; use one of {', '.join(AGGREGATIONS)}")
            set_("aggregation", aggregation)
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        set_("alpha", float(self.alpha))
        for name in ("n_clusters", "n_draws"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, bool) or int(value) != value or value < 1:
                    raise ValueError(f"{name} must be a positive integer, got {value!r}")
                set_(name, int(value))
        if self.inference in _CLUSTERED and (self.cluster is None or self.n_clusters is None):
            raise ValueError(f"inference {self.inference!r} needs the cluster variable and n_clusters")
        if self.inference in _DRAWN and self.n_draws is None:
            raise ValueError(f"inference {self.inference!r} needs n_draws (bootstrap draws or permutations)")
        if self.multiplier is not None and self.inference not in ("wild_restricted", "wild_unrestricted",
                                                                  "multiplier_bootstrap"):
            raise ValueError(f"multiplier {self.multiplier!r} given for inference {self.inference!r}, "
                             "which draws no bootstrap weights")
        if self.inference in ("analytic_t", "analytic_normal"):
            if self.inference == "analytic_t" and self.n_clusters < 2:
                raise ValueError(f"analytic_t needs at least two clusters, got {self.n_clusters}")
            expected = _critical(self.alpha, self.dof)
            if self.critical_value is None:
                set_("critical_value", expected)
            elif not math.isclose(float(self.critical_value), expected, rel_tol=1e-3):
                reference = "N(0,1)" if self.dof is None else f"t({self.dof})"
                raise ValueError(f"critical_value {self.critical_value!r} is not the {1 - self.alpha / 2:g} "
                                 f"quantile of {reference} ({expected:.4f})")
        if self.critical_value is not None:
            set_("critical_value", float(self.critical_value))

    @property
    def dof(self) -> int | None:
        """Degrees of freedom of the critical value: :math:`G - 1` for ``analytic_t``, else ``None``."""
        return self.n_clusters - 1 if self.inference == "analytic_t" else None

    @property
    def is_estimate(self) -> bool:
        """Whether the estimator makes estimates (``False`` for ``descriptive`` and ``truth``)."""
        return METHODS[self.estimator].estimate

    def method_ids(self) -> set[str]:
        """The vocabulary ids this record supports: estimator, inference, ``doubly_robust`` when it applies."""
        ids = {self.estimator}
        if self.inference is not None:
            ids.add(self.inference)
        if self.covariates and self.estimator in _DOUBLY_ROBUST_ESTIMATORS:
            ids.add("doubly_robust")
        return ids

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; fields left at ``None`` or empty are omitted (so old readers see few keys)."""
        out = {}
        for name, value in asdict(self).items():
            if value is None or value == ():
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodRecord:
        """Read a record written by :meth:`to_dict` (or typed by hand); unknown fields are an error."""
        if isinstance(data, MethodRecord):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"a method record must be a MethodRecord or a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown method record field(s) {unknown}; known: {', '.join(sorted(known))}")
        if "estimator" not in data:
            raise ValueError("a method record needs an estimator")
        values = dict(data)
        if isinstance(values.get("covariates"), list):
            values["covariates"] = tuple(values["covariates"])
        return cls(**values)

    @classmethod
    def from_effect(cls, effect: Any, *, estimator: str, inference: str | None = None, **kwargs: Any
                    ) -> MethodRecord:
        """A record with the inference fields of an :class:`bijstand.did.results.Effect` (or alike).

        ``n_clusters``, ``alpha`` and ``critical_value`` are read from the effect. ``inference`` defaults to
        ``analytic_t`` (effect with degrees of freedom) or ``analytic_normal`` when the effect's own
        ``inference`` text starts with "analytic"; any other inference must be named.
        """
        if inference is None:
            text = str(getattr(effect, "inference", ""))
            if not text.startswith("analytic"):
                raise ValueError(f"cannot tell the inference id of an effect with inference {text!r}; pass "
                                 f"inference= one of {', '.join(_ids('inference'))}")
            inference = "analytic_t" if getattr(effect, "dof", None) is not None else "analytic_normal"
        values = {"n_clusters": getattr(effect, "n_clusters", None), "alpha": getattr(effect, "alpha", 0.05),
                  "critical_value": getattr(effect, "crit_value", None)}
        values.update(kwargs)
        return cls(estimator=estimator, inference=inference, **values)


def _critical(alpha: float, dof: int | None) -> float:
    from scipy import stats

    q = 1 - alpha / 2
    return float(stats.norm.ppf(q) if dof is None else stats.t.ppf(q, dof))


def method_records(methods: Any) -> tuple[MethodRecord, ...]:
    """Normalise what a notebook passes as ``method``/``methods``: ``None``, a record, a mapping, or a list."""
    if methods is None:
        return ()
    if isinstance(methods, (MethodRecord, Mapping)):
        return (MethodRecord.from_dict(methods),)
    if isinstance(methods, (str, bytes)):
        raise TypeError(f"methods must be MethodRecord(s), not the string {methods!r}; "
                        f"e.g. MethodRecord({methods!r})")
    return tuple(MethodRecord.from_dict(m) for m in methods)


# --------------------------------------------------------------------------------------------- disclosure

#: What an output may rest on: public data, the synthetic register, model estimates of areas of at least the
#: threshold number of persons, or cells of at least a checked number of persons.
DISCLOSURE_STATUSES = ("public", "synthetic", "estimates", "min_cell")


def disclosure_record(disclosure: Any, threshold: int = CBS_MIN_COUNT) -> dict[str, Any] | None:
    """The disclosure status of one output as stored in the results files.

    Parameters
    ----------
    disclosure
        ``"public"`` (rests on public data only, e.g. CBS StatLine tables), ``"synthetic"`` (rests on the
        synthetic register only), ``"estimates"`` (model estimates for areas each of at least ``threshold``
        persons), an int (the smallest number of persons in any cell, as checked by the caller, e.g. with
        :func:`~bijstand.report.disclosure.check_disclosure`), ``None`` (not stated) or a dict written earlier.
    threshold
        Minimum persons per cell of the output rules (CBS: 10).

    Returns
    -------
    dict or None
        ``{"status": ..., "threshold": threshold}`` plus ``"min_persons"`` for a checked minimum.

    Raises
    ------
    ValueError
        For an unknown status, or a minimum below ``threshold``: such output may not leave the secure
        environment.
    """
    if disclosure is None:
        return None
    if isinstance(disclosure, Mapping):
        record = dict(disclosure)
        status = record.get("status")
        if status == "min_cell":
            return disclosure_record(int(record["min_persons"]), int(record.get("threshold", threshold)))
        return disclosure_record(status, int(record.get("threshold", threshold)))
    if isinstance(disclosure, bool):
        raise ValueError(f"disclosure must be one of {DISCLOSURE_STATUSES[:3]} or a number of persons, "
                         f"got {disclosure!r}")
    if isinstance(disclosure, int) or (hasattr(disclosure, "__index__") and not isinstance(disclosure, str)):
        smallest = int(disclosure)
        if smallest < threshold:
            raise ValueError(f"disclosure: the smallest cell has {smallest} persons, fewer than the threshold of "
                             f"{threshold}; suppress it first (bijstand.report.disclosure.suppress_small_cells)")
        return {"status": "min_cell", "min_persons": smallest, "threshold": int(threshold)}
    if disclosure in ("public", "synthetic", "estimates"):
        return {"status": disclosure, "threshold": int(threshold)}
    raise ValueError(f"disclosure must be one of {DISCLOSURE_STATUSES[:3]} or a number of persons, "
                     f"got {disclosure!r}")


def disclosure_note(record: Mapping[str, Any] | None) -> str:
    """The sentence a caption prints for a disclosure record ("" when none is recorded)."""
    if not record:
        return ""
    status = record.get("status")
    if status == "public":
        return "Disclosure: public data only."
    if status == "synthetic":
        return "Disclosure: synthetic data only."
    if status == "estimates":
        return f"Disclosure: model estimates for areas of at least {record['threshold']} persons each."
    return f"Disclosure: at least {record['min_persons']:,} persons per cell (rule: {record['threshold']})."


# --------------------------------------------------------------------------------------------- outputs

_KINDS = {"number": "number", "num": "number", "table": "table", "tabref": "table", "figure": "figure",
          "figref": "figure"}


@dataclass(frozen=True)
class OutputRecord:
    """One number, table or figure of a run, with how it was made.

    Attributes
    ----------
    kind
        ``"number"``, ``"table"`` or ``"figure"``.
    ref
        ``"RUN/KEY"``, as in the paper's placeholders.
    methods
        Its method records (a number has one; a table or figure one per method shown); empty when the notebook
        recorded none (results written before records existed).
    disclosure
        Its :func:`disclosure_record`, or ``None`` when not stated.
    """

    kind: str
    ref: str
    methods: tuple[MethodRecord, ...] = ()
    disclosure: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of number, table, figure; got {self.kind!r}")
        object.__setattr__(self, "kind", _KINDS[self.kind])
        object.__setattr__(self, "methods", method_records(self.methods))

    @property
    def recorded(self) -> bool:
        """Whether the notebook recorded how this output was made."""
        return bool(self.methods)


def output_records(run: str, numbers: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[OutputRecord]:
    """Every output of one run with its records, from ``numbers.json`` and ``manifest.json`` as loaded.

    Numbers carry ``"method"`` (one record) and tables and figures ``"methods"`` (a list) when the notebook gave
    them; both may carry ``"disclosure"``. Outputs without them come back with empty ``methods``.
    """
    out = []
    for key, entry in numbers.items():
        method = entry.get("method") if isinstance(entry, Mapping) else None
        out.append(OutputRecord("number", f"{run}/{key}", method_records(method),
                                entry.get("disclosure") if isinstance(entry, Mapping) else None))
    for kind, section in (("table", "tables"), ("figure", "figures")):
        for key, spec in (manifest.get(section) or {}).items():
            out.append(OutputRecord(kind, f"{run}/{key}", method_records(spec.get("methods")),
                                    spec.get("disclosure")))
    return out


def _flatten(records: Iterable[Any]) -> list[MethodRecord]:
    flat: list[MethodRecord] = []
    for item in records:
        if isinstance(item, OutputRecord):
            flat.extend(item.methods)
        else:
            flat.extend(method_records(item))
    return flat


# --------------------------------------------------------------------------------------------- finding phrases

_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2013": "-", "\u2014": "-",
                             "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-", "\u00a0": " ",
                             "\u2009": " ", "\u202f": " "})


def _normalise(text: str) -> str:
    """Dashes and apostrophes to ASCII, narrow and non-breaking spaces to spaces (length preserved)."""
    return text.translate(_TYPOGRAPHY)


def _is_acronym(phrase: str) -> bool:
    return sum(c.isupper() for c in phrase) >= 2 and not any(c.islower() for c in phrase)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = [w for w in re.split(r"[\s-]+", _normalise(phrase)) if w]
    body = r"[\s-]+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![\w@]){body}(?![\w])", 0 if _is_acronym(phrase) else re.IGNORECASE)


def _phrase_index() -> list[tuple[str, re.Pattern[str], frozenset[str]]]:
    by_phrase: dict[str, set[str]] = {}
    for method in METHODS.values():
        for phrase in method.phrases:
            key = _normalise(phrase) if _is_acronym(phrase) else _normalise(phrase).lower()
            by_phrase.setdefault(key, set()).add(method.id)
    return [(phrase, _phrase_pattern(phrase), frozenset(ids)) for phrase, ids in by_phrase.items()]


_PHRASES = _phrase_index()

# Regions never searched (replaced by spaces, so positions and line numbers stay).
_MASKS = (
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"^(```|~~~).*?^\1", re.S | re.M),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<![\\$])\$(?!\s)[^$]*?(?<!\s)\$", re.S),
    re.compile(r"\[[^\]]*\]\{\.mention\}", re.S),
)
#: Placeholders (all kinds); masked as capital letters, so that one starting a sentence still starts it.
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*:\s*([0-9A-Za-z_\-]+)(?:/([0-9A-Za-z_\-]+))?\s*\}\}")


def _masked(text: str) -> str:
    text = _normalise(text)
    for pattern in _MASKS:
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return _PLACEHOLDER.sub(lambda m: "X" * len(m.group(0)), text)


def _line_col(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1)


@dataclass(frozen=True)
class MethodMention:
    """A method phrase found in the text.

    Attributes
    ----------
    phrase
        The text as written.
    method_ids
        The ids it names (several for a generic phrase such as "wild cluster bootstrap").
    line, column
        Where it starts (1-based line, 0-based column) in the text searched.
    start, end
        Character offsets in that text.
    """

    phrase: str
    method_ids: frozenset[str]
    line: int
    column: int
    start: int
    end: int

    @property
    def kinds(self) -> set[str]:
        """The kinds (estimator, inference, covariates) of the ids it names."""
        return {METHODS[i].kind for i in self.method_ids}

    def __str__(self) -> str:
        return f"line {self.line}: {' '.join(self.phrase.split())!r} ({' or '.join(sorted(self.method_ids))})"


def find_mentions(text: str) -> list[MethodMention]:
    """Every method phrase in ``text`` (matching rules of the module), in text order, longest match first."""
    masked = _masked(text)
    found = []
    for _, pattern, ids in _PHRASES:
        for match in pattern.finditer(masked):
            found.append((match.start(), -(match.end() - match.start()), match.end(), ids))
    found.sort(key=lambda f: (f[0], f[1]))
    mentions: list[MethodMention] = []
    taken_until = -1
    for start, _, end, ids in found:
        if start < taken_until:
            continue
        line, column = _line_col(text, start)
        mentions.append(MethodMention(text[start:end], ids, line, column, start, end))
        taken_until = end
    return mentions


def unsupported_methods(paper_text: str, records: Iterable[Any]) -> list[MethodMention]:
    """Method phrases in ``paper_text`` whose method produced none of the recorded outputs.

    Parameters
    ----------
    paper_text
        The paper source (or a caption).
    records
        :class:`OutputRecord` or :class:`MethodRecord` objects (or their dicts) of the outputs the paper quotes.

    Returns
    -------
    list of MethodMention
        In text order; a generic phrase is supported when any of its ids was used, "doubly robust" only by a
        Callaway–Sant'Anna record with covariates.
    """
    produced: set[str] = set()
    for record in _flatten(records):
        produced |= record.method_ids()
    return [m for m in find_mentions(paper_text) if not (m.method_ids & produced)]


# --------------------------------------------------------------------------------------------- sentences

_ABBREVIATIONS = {"e.g", "i.e", "cf", "al", "etc", "vs", "fig", "figs", "no", "p", "pp", "eq", "eqs", "sec",
                  "approx", "resp", "ca", "ch", "vol", "ed", "eds", "dr", "prof", "st", "mr", "mrs", "ms"}
_END = re.compile(r"[.!?][\"')\]*_]*(?=\s)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences of ``text`` (the sentence rule of the module).

    A sentence ends at ``.``, ``!`` or ``?`` (with closing quotes, brackets or emphasis) followed by white space
    whose next character is not a lower-case letter, unless the word before the full stop is an abbreviation
    ("e.g.", "et al.") or a single letter (an initial); at a blank line; and around a heading line.
    """
    masked = _masked(text)
    cuts = {0, len(text)}
    for match in _END.finditer(masked):
        rest = masked[match.end():]
        following = rest.lstrip()
        if following[:1].islower():
            continue
        if masked[match.start()] == ".":
            word = re.search(r"([\w.]*)$", masked[:match.start()]).group(1).lower()
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        cuts.add(match.end())
    for match in re.finditer(r"\n[ \t]*\n", masked):
        cuts.add(match.start())
    for match in re.finditer(r"^#{1,6}\s.*$", masked, flags=re.M):
        cuts.update((match.start(), match.end()))
    ordered = sorted(cuts)
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if masked[a:b].strip()]


@dataclass(frozen=True)
class Inconsistency:
    """A placeholder whose sentence names a method that did not make it.

    Attributes
    ----------
    placeholder
        The placeholder as written (``{{num:RUN/KEY}}``).
    ref
        ``RUN/KEY``.
    line
        Its line in the text.
    kind
        The method kind in conflict: ``estimator``, ``inference`` or ``covariates``.
    named
        The phrases of that kind the sentence uses.
    recorded
        The ids of that kind in the output's records.
    sentence
        The sentence (white space collapsed).
    """

    placeholder: str
    ref: str
    line: int
    kind: str
    named: tuple[str, ...]
    recorded: tuple[str, ...]
    sentence: str

    def __str__(self) -> str:
        named = " / ".join(repr(" ".join(p.split())) for p in self.named)
        recorded = ", ".join(self.recorded) if self.recorded else "none"
        shown = self.sentence if len(self.sentence) <= 160 else self.sentence[:157] + "..."
        return (f"line {self.line}: {self.placeholder} was made with {self.kind} {recorded}, but its sentence "
                f"names {named}: {shown!r}")


def _records_by_placeholder(records: Iterable[Any]) -> dict[tuple[str, str], tuple[MethodRecord, ...]]:
    index: dict[tuple[str, str], tuple[MethodRecord, ...]] = {}
    for record in records:
        if isinstance(record, OutputRecord):
            index[(record.kind, record.ref)] = index.get((record.kind, record.ref), ()) + record.methods
        elif isinstance(record, Mapping) and "ref" in record:
            out = OutputRecord(record.get("kind", "number"), record["ref"], record.get("methods", ()))
            index[(out.kind, out.ref)] = index.get((out.kind, out.ref), ()) + out.methods
        else:
            raise TypeError("inconsistent_numbers needs OutputRecord objects (kind, ref, methods), "
                            f"got {type(record).__name__}")
    return index


def _conflicts(named: Sequence[MethodMention], methods: Sequence[MethodRecord]
               ) -> list[tuple[str, list[MethodMention], list[str]]]:
    estimates = [m for m in methods if m.is_estimate]
    if not estimates:
        return []
    conflicts = []
    for kind, relevant, recorded_ids in (
            ("estimator", estimates, lambda r: {r.estimator}),
            ("inference", [m for m in estimates if m.inference is not None], lambda r: {r.inference}),
            ("covariates", [m for m in estimates if m.estimator in _DOUBLY_ROBUST_ESTIMATORS],
             lambda r: r.method_ids() & {"doubly_robust"})):
        mentions = [n for n in named if kind in n.kinds]
        if not mentions or not relevant:
            continue
        named_ids = set().union(*(n.method_ids for n in mentions))
        recorded = set().union(*(recorded_ids(r) for r in relevant))
        if not named_ids & recorded:
            conflicts.append((kind, mentions, sorted(recorded)))
    return conflicts


def inconsistent_caption(caption: str, record: OutputRecord, *, line: int = 0) -> list[Inconsistency]:
    """Method kinds a table's or figure's caption names without any of the named methods in its records.

    The caption is one "sentence" of the rule of the module; ``line`` is that of the item's placeholder, for
    messages. A caption of an item without records is not checked.
    """
    placeholder = f"the caption of {{{{{record.kind}:{record.ref}}}}}"
    sentence = " ".join(caption.split())
    return [Inconsistency(placeholder, record.ref, line, conflict_kind, tuple(m.phrase for m in mentioned),
                          tuple(recorded), sentence)
            for conflict_kind, mentioned, recorded in _conflicts(find_mentions(caption), record.methods)]


def inconsistent_numbers(paper_text: str, records: Iterable[Any]) -> list[Inconsistency]:
    """Placeholders whose sentence names an estimator, inference method or "doubly robust" that did not make them.

    Parameters
    ----------
    paper_text
        The paper source with its placeholders (``{{num:RUN/KEY}}``, ``{{tabref:RUN/KEY}}``,
        ``{{figref:RUN/KEY}}``).
    records
        :class:`OutputRecord` objects of the quoted outputs. Placeholders of outputs without records are
        skipped (the build lists them separately).

    Returns
    -------
    list of Inconsistency
        One per placeholder and method kind in conflict, in text order (the sentence rule of the module).
    """
    index = _records_by_placeholder(records)
    mentions = find_mentions(paper_text)
    problems: list[Inconsistency] = []
    for start, end in sentence_spans(paper_text):
        named = [m for m in mentions if start <= m.start < end]
        if not named:
            continue
        sentence = " ".join(paper_text[start:end].split())
        for match in _PLACEHOLDER.finditer(paper_text, start, end):
            kind = _KINDS.get(match.group(1))
            if kind is None or match.group(1) in ("table", "figure") or match.group(3) is None:
                continue
            ref = f"{match.group(2)}/{match.group(3)}"
            methods = index.get((kind, ref), ())
            for conflict_kind, mentioned, recorded in _conflicts(named, methods):
                problems.append(Inconsistency(match.group(0), ref, _line_col(paper_text, match.start())[0],
                                              conflict_kind, tuple(m.phrase for m in mentioned),
                                              tuple(recorded), sentence))
    return problems


# --------------------------------------------------------------------------------------------- statement

def _design_parts(record: MethodRecord) -> tuple[str, ...]:
    parts = []
    if record.control_group:
        parts.append(CONTROL_GROUPS[record.control_group])
    if record.covariates:
        prefix = "doubly robust with covariates" if record.estimator in _DOUBLY_ROBUST_ESTIMATORS else "covariates"
        parts.append(f"{prefix} {', '.join(record.covariates)}")
    if record.aggregation:
        text = AGGREGATIONS[record.aggregation]
        parts.append(f"{text} over {record.cells}" if record.cells else text)
    elif record.cells:
        parts.append(record.cells)
    if record.window:
        parts.append(f"window {record.window}")
    if record.n_clusters is not None:
        parts.append(f"{record.n_clusters} {record.cluster} clusters" if record.cluster
                     else f"{record.n_clusters} clusters")
    elif record.cluster:
        parts.append(f"clustered by {record.cluster}")
    return tuple(parts)


def _inference_part(record: MethodRecord) -> str | None:
    if record.inference is None:
        return None
    level = "" if math.isclose(record.alpha, 0.05) else f" at the {100 * (1 - record.alpha):g}% level"
    if record.inference == "analytic_t":
        return f"t({record.dof}) critical value {record.critical_value:.3f}{level}"
    if record.inference == "analytic_normal":
        return f"normal critical value {record.critical_value:.3f}{level}"
    name = METHODS[record.inference].name
    details = []
    if record.multiplier:
        details.append(f"{record.multiplier.capitalize()} weights")
    unit = "permutations" if record.inference == "randomization" else "draws"
    details.append(f"{record.n_draws:,} {unit}")
    return f"{name} with {' and '.join(details)}{level}"


def methods_statement(records: Iterable[Any]) -> str:
    """The sentence that states the estimators and inference methods behind ``records``, with their parameters.

    Records are grouped by estimator (in the order of :data:`METHODS`) and design (comparison group,
    covariates, aggregation, cells, window, clusters); the inference methods used with one design are listed
    with it. Descriptive numbers and true values are left out. Each group reads
    ``Name (design, inference, ...)``; groups are separated by semicolons.

    Returns
    -------
    str
        e.g. ``"Callaway–Sant'Anna (not-yet-treated controls, simple aggregation, 22 area clusters, t(21)
        critical value 2.080, restricted wild cluster bootstrap with Webb weights and 9,999 draws); two-way
        fixed effects (22 area clusters, t(21) critical value 2.080)."``; ``""`` when no record is an estimate.

    Examples
    --------
    >>> methods_statement([MethodRecord("kaplan_meier"), MethodRecord("twfe", cluster="area", n_clusters=22,
    ...                                                              inference="analytic_t")])
    'Two-way fixed effects (22 area clusters, t(21) critical value 2.080); Kaplan–Meier.'
    """
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for record in _flatten(records):
        if not record.is_estimate:
            continue
        inference = groups.setdefault((record.estimator, _design_parts(record)), [])
        part = _inference_part(record)
        if part and part not in inference:
            inference.append(part)
    order = list(METHODS)
    entries = []
    for (estimator, design), inference in sorted(groups.items(), key=lambda g: order.index(g[0][0])):
        parts = [*design, *inference]
        name = METHODS[estimator].name
        entries.append(f"{name} ({', '.join(parts)})" if parts else name)
    if not entries:
        return ""
    text = "; ".join(entries) + "."
    return text[0].upper() + text[1:]
