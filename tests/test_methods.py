"""Method records and the checks of the paper's method statements against them (:mod:`bijstand.report.methods`)."""

from __future__ import annotations

import doctest

import pytest

import bijstand.report.methods as methods_module
from bijstand.report.methods import (
    METHODS,
    MethodRecord,
    OutputRecord,
    disclosure_note,
    disclosure_record,
    find_mentions,
    inconsistent_caption,
    inconsistent_numbers,
    methods_statement,
    sentence_spans,
    unsupported_methods,
)

CS = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area", n_clusters=22,
                  inference="analytic_t", data_source="synthetic")
CS_WILD = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area",
                       n_clusters=22, inference="wild_restricted", n_draws=9999, multiplier="webb")
CS_RI = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area",
                     n_clusters=22, inference="randomization", n_draws=999)
TWFE = MethodRecord("twfe", cluster="area", n_clusters=22, inference="analytic_t")
N_AREAS = MethodRecord("descriptive", data_source="synthetic")
TRUTH = MethodRecord("truth")

RECORDS = [
    OutputRecord("number", "02/att", [CS]),
    OutputRecord("number", "02/att_twfe", [TWFE]),
    OutputRecord("number", "02/p_wild", [CS_WILD]),
    OutputRecord("number", "02/p_ri", [CS_RI]),
    OutputRecord("number", "02/n_areas", [N_AREAS]),
    OutputRecord("number", "02/truth", [TRUTH]),
    OutputRecord("table", "02/estimates", [CS, TWFE]),
    OutputRecord("number", "02/legacy"),
]


def test_docstring_examples():
    result = doctest.testmod(methods_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------------------------- vocabulary, records

def test_vocabulary_covers_the_methods_the_issue_names():
    kinds = {m.id: m.kind for m in METHODS.values()}
    for estimator in ("callaway_santanna", "imputation", "sun_abraham", "twfe", "bacon", "honest_did", "cox",
                      "kaplan_meier", "nearest_neighbours"):
        assert kinds[estimator] == "estimator"
    for inference in ("analytic_t", "wild_restricted", "wild_unrestricted", "randomization", "multiplier_bootstrap"):
        assert kinds[inference] == "inference"
    assert kinds["doubly_robust"] == "covariates"
    # every phrase finds its own method
    for method in METHODS.values():
        for phrase in method.phrases:
            found = find_mentions(f"We use the {phrase} here.")
            assert len(found) == 1 and method.id in found[0].method_ids, (method.id, phrase, found)


def test_records_validate_against_the_vocabulary():
    with pytest.raises(ValueError, match="unknown estimator 'synthetic_control'; the vocabulary"):
        MethodRecord("synthetic_control")
    with pytest.raises(ValueError, match="unknown inference 'bootstrap'"):
        MethodRecord("twfe", inference="bootstrap")
    with pytest.raises(ValueError, match="unknown inference 'twfe'"):
        MethodRecord("callaway_santanna", inference="twfe")
    with pytest.raises(ValueError, match="unknown control_group 'last'"):
        MethodRecord("callaway_santanna", control_group="last")
    with pytest.raises(ValueError, match="unknown aggregation 'weighted'"):
        MethodRecord("callaway_santanna", aggregation="weighted")
    with pytest.raises(ValueError, match="needs the cluster variable and n_clusters"):
        MethodRecord("twfe", inference="analytic_t")
    with pytest.raises(ValueError, match="needs n_draws"):
        MethodRecord("twfe", cluster="area", n_clusters=22, inference="wild_restricted")
    with pytest.raises(ValueError, match=r"critical_value 1.96 is not the 0.975 quantile of t\(21\) \(2.0796\)"):
        MethodRecord("twfe", cluster="area", n_clusters=22, inference="analytic_t", critical_value=1.96)
    with pytest.raises(ValueError, match="unknown method record field"):
        MethodRecord.from_dict({"estimator": "twfe", "clusters": 22})
    assert MethodRecord("twfe", cluster="area", n_clusters=22, inference="analytic_t").critical_value == \
        pytest.approx(2.0796, abs=1e-4)
    assert MethodRecord("callaway_santanna", inference="analytic_normal").critical_value == pytest.approx(1.95996, abs=1e-5)
    assert MethodRecord("callaway_santanna", control_group="nevertreated").control_group == "never"
    assert MethodRecord.from_dict(CS_WILD.to_dict()) == CS_WILD
    assert "doubly_robust" in MethodRecord("callaway_santanna", covariates=["age"]).method_ids()
    assert "doubly_robust" not in MethodRecord("imputation", covariates=["age"]).method_ids()


def test_record_from_an_effect():
    from bijstand.did.results import Effect

    effect = Effect.from_se(0.5, 0.1, dof=21, n_clusters=22, inference="analytic, clustered by area")
    record = MethodRecord.from_effect(effect, estimator="callaway_santanna", cluster="area")
    assert (record.inference, record.n_clusters, record.dof) == ("analytic_t", 22, 21)
    assert record.critical_value == pytest.approx(effect.crit_value)
    with pytest.raises(ValueError, match="cannot tell the inference id"):
        MethodRecord.from_effect(Effect.from_se(0.5, 0.1, inference="wild bootstrap"), estimator="twfe")


def test_disclosure_records_and_notes():
    assert disclosure_record("public") == {"status": "public", "threshold": 10}
    assert disclosure_record(14) == {"status": "min_cell", "min_persons": 14, "threshold": 10}
    assert disclosure_record(disclosure_record(14)) == disclosure_record(14)
    assert disclosure_record(None) is None
    with pytest.raises(ValueError, match="fewer than the threshold of 10"):
        disclosure_record(9)
    with pytest.raises(ValueError, match="disclosure must be one of"):
        disclosure_record(True)
    assert disclosure_note(disclosure_record("estimates")) == \
        "Disclosure: model estimates for areas of at least 10 persons each."
    assert disclosure_note(disclosure_record(1500)) == "Disclosure: at least 1,500 persons per cell (rule: 10)."
    assert disclosure_note(None) == ""


# ------------------------------------------------------------------------------------------- finding phrases

def test_phrases_match_as_written_in_prose_but_not_in_citations_math_or_mentions():
    text = ("We use the Callaway\u2013Sant\u2019Anna estimator [@callaway2021; @borusyak2024] and two-way\n"
            "fixed-effects regressions. Its $t$ statistic uses $\\mathrm{TWFE}$ weights. Older work ran\n"
            "[two-way fixed effects]{.mention} regressions, and `twfe` is code. The unrestricted wild cluster "
            "bootstrap is shown.")
    found = [(m.phrase.replace("\n", " "), sorted(m.method_ids), m.line) for m in find_mentions(text)]
    assert found == [("Callaway\u2013Sant\u2019Anna", ["callaway_santanna"], 1),
                     ("two-way fixed-effects", ["twfe"], 1),
                     ("unrestricted wild cluster bootstrap", ["wild_unrestricted"], 3)]
    # a generic phrase names either bootstrap; an acronym matches only as written
    assert find_mentions("a wild cluster bootstrap")[0].method_ids == {"wild_restricted", "wild_unrestricted"}
    assert find_mentions("twfe in lower case") == []


def test_sentences_end_at_full_stops_blank_lines_and_headings():
    text = ("First, e.g. this one, cites Roth et al. 2023 and J. Smith. Second is {{num:r/a}}; still second.\n"
            "# Heading\nThird without a stop\n\nFourth. and not a fifth")
    sentences = [" ".join(text[a:b].split()) for a, b in sentence_spans(text)]
    assert sentences == ["First, e.g. this one, cites Roth et al. 2023 and J. Smith.",
                         "Second is {{num:r/a}}; still second.", "# Heading", "Third without a stop",
                         "Fourth. and not a fifth"]


# ------------------------------------------------------------------------------------------- the checks

def test_a_method_named_but_never_used_is_unsupported_with_its_line():
    text = ("# Methods\n\nThe Callaway\u2013Sant'Anna estimate is {{num:02/att}}.\n"
            "As a check we use the imputation estimator of @borusyak2024.\n")
    problems = unsupported_methods(text, RECORDS)
    assert [(m.phrase, m.line) for m in problems] == [("imputation estimator", 4)]
    assert str(problems[0]) == "line 4: 'imputation estimator' (imputation)"
    # records may be given as output records, method records or their dicts
    assert unsupported_methods(text, [CS.to_dict(), MethodRecord("imputation")]) == []


def test_doubly_robust_needs_covariates():
    text = "We use doubly robust comparisons."
    assert [m.phrase for m in unsupported_methods(text, [CS])] == ["doubly robust"]
    assert unsupported_methods(text, [MethodRecord("callaway_santanna", covariates=("age", "education"))]) == []


def test_randomisation_inference_next_to_an_analytic_number_is_inconsistent():
    text = "Intro.\n\nRandomisation inference over roll-out dates gives an\nestimate of {{num:02/att}} per 100.\n"
    problems = inconsistent_numbers(text, RECORDS)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.ref, problem.line, problem.kind, problem.named, problem.recorded) == \
        ("02/att", 4, "inference", ("Randomisation inference",), ("analytic_t",))
    assert str(problem).startswith("line 4: {{num:02/att}} was made with inference analytic_t, but its sentence "
                                   "names 'Randomisation inference': ")


def test_the_sentence_rule():
    consistent = (
        # two numbers, two methods: each number made by one of the named methods
        "The wild cluster bootstrap with Webb weights gives $p$ = {{num:02/p_wild}}, and randomisation inference "
        "gives $p$ = {{num:02/p_ri}}.\n"
        # a true value and a count beside an estimate are not made by the estimator
        "The Callaway\u2013Sant'Anna estimate over {{num:02/n_areas}} areas is {{num:02/att}} (true "
        "{{num:02/truth}}); the two-way fixed-effects estimate is {{num:02/att_twfe}}.\n"
        # a table of both estimators; a number without records is skipped
        "{{tabref:02/estimates}} compares Callaway\u2013Sant'Anna with TWFE, as does {{num:02/legacy}}.\n"
        # methods named in another sentence do not count
        "The imputation estimator is discussed below. The estimate is {{num:02/att}}.\n"
    )
    assert inconsistent_numbers(consistent, RECORDS) == []
    wrong = ("The two-way fixed-effects estimate is {{num:02/att}}.\n\n"
             "The imputation estimator gives {{tabref:02/estimates}}.\n\n"
             "With analytic standard errors, $p$ = {{num:02/p_wild}}.\n\n"
             "The doubly robust estimate is {{num:02/att}}.\n")
    found = [(p.ref, p.line, p.kind, p.recorded) for p in inconsistent_numbers(wrong, RECORDS)]
    assert found == [("02/att", 1, "estimator", ("callaway_santanna",)),
                     ("02/estimates", 3, "estimator", ("callaway_santanna", "twfe")),
                     ("02/p_wild", 5, "inference", ("wild_restricted",)),
                     ("02/att", 7, "covariates", ())]


def test_a_caption_is_one_sentence_held_to_its_items_records():
    table = OutputRecord("table", "02/estimates", [CS, TWFE])
    assert inconsistent_caption("Callaway\u2013Sant'Anna and TWFE estimates.", table) == []
    problems = inconsistent_caption("Imputation estimates with\nrandomisation inference.",
                                    OutputRecord("figure", "02/es", [CS]), line=12)
    assert [(p.placeholder, p.line, p.kind, p.named, p.recorded) for p in problems] == [
        ("the caption of {{figure:02/es}}", 12, "estimator", ("Imputation estimates",), ("callaway_santanna",)),
        ("the caption of {{figure:02/es}}", 12, "inference", ("randomisation inference",), ("analytic_t",))]
    assert problems[0].sentence == "Imputation estimates with randomisation inference."
    assert inconsistent_caption("TWFE estimates.", OutputRecord("figure", "02/legacy")) == []  # no records


def test_methods_statement_text():
    records = [OutputRecord("number", "02/n_areas", [N_AREAS]), *RECORDS,
               OutputRecord("table", "05/km", [MethodRecord("kaplan_meier", window="2015-01 to 2024-12")]),
               OutputRecord("number", "05/hr", [MethodRecord("cox", covariates=("age", "education"),
                                                             inference="analytic_normal", alpha=0.1)])]
    assert methods_statement(records) == (
        "Callaway\u2013Sant'Anna (not-yet-treated controls, simple aggregation, 22 area clusters, "
        "t(21) critical value 2.080, restricted wild cluster bootstrap with Webb weights and 9,999 draws, "
        "randomisation inference with 999 permutations); "
        "two-way fixed effects (22 area clusters, t(21) critical value 2.080); "
        "Cox proportional hazards (covariates age, education, normal critical value 1.645 at the 90% level); "
        "Kaplan\u2013Meier (window 2015-01 to 2024-12).")
    assert methods_statement([N_AREAS, TRUTH]) == ""
