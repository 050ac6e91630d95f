"""Difference-in-differences estimators and inference.

* :func:`att_gt` — Callaway & Sant'Anna (2021) ATT(g,t) (:mod:`.attgt`) and ``.aggregate()`` (R ``did::aggte``,
  :mod:`.aggte`), analytic or multiplier-bootstrap inference (:mod:`.bootstrap`);
* :func:`wild_bootstrap_test` (unrestricted wild score bootstrap), :func:`randomization_test` — inference with
  few clusters (:mod:`.bootstrap`, :mod:`.randomization`);
* :func:`twfe_static`, :func:`event_study_twfe` — two-way fixed effects with fixest's clustered SEs (:mod:`.twfe`);
* :func:`bacon_decomposition` — Goodman-Bacon (2021) (:mod:`.bacon`);
* :func:`sun_abraham` — Sun & Abraham (2021) (:mod:`.sunab`);
* :func:`imputation` — Borusyak, Jaravel & Spiess (2024) imputation estimator (:mod:`.imputation`);
* :func:`wild_bootstrap_twfe`, :func:`wild_bootstrap_imputation` — restricted/unrestricted wild cluster bootstrap
  of linear estimators with test-inversion intervals (:mod:`.wild`);
* :func:`honest_sensitivity`, :func:`honest_from_event_study`, :func:`breakdown_value` — Rambachan & Roth (2023)
  (:mod:`.honest`);
* :mod:`.results` — the vocabulary every result shares: :class:`Effect` in ``.overall``, tidy ``.table`` /
  ``.tidy()``, ``.summary()`` (also ``str(result)``) and ``.glance()``;
* :mod:`.compare` — estimators side by side and beside the truth on synthetic data.
"""

from bijstand.did.aggte import AggregateResult
from bijstand.did.attgt import ATTgtResult, att_gt
from bijstand.did.bacon import BaconDecomposition, bacon_decomposition
from bijstand.did.bootstrap import BootstrapResult, WildBootstrapTest, wild_bootstrap_test
from bijstand.did.honest import Breakdown, HonestResult, breakdown_value, honest_from_event_study, honest_sensitivity
from bijstand.did.imputation import ImputationResult, imputation
from bijstand.did.randomization import RandomizationTest, randomization_test
from bijstand.did.results import Effect
from bijstand.did.sunab import SunAbrahamResult, sun_abraham
from bijstand.did.twfe import EventStudyResult, TwfeResult, event_study_twfe, twfe_static
from bijstand.did.wild import WildBootstrapResult, wild_bootstrap_imputation, wild_bootstrap_twfe

__all__ = [
    "ATTgtResult", "AggregateResult", "BaconDecomposition", "BootstrapResult", "Breakdown", "Effect",
    "EventStudyResult", "HonestResult", "ImputationResult", "RandomizationTest", "SunAbrahamResult", "TwfeResult",
    "WildBootstrapResult", "WildBootstrapTest", "att_gt", "bacon_decomposition", "breakdown_value",
    "event_study_twfe", "honest_from_event_study", "honest_sensitivity", "imputation", "randomization_test",
    "sun_abraham", "twfe_static", "wild_bootstrap_imputation", "wild_bootstrap_test", "wild_bootstrap_twfe",
]
