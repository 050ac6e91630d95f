"""The study layer: interventions as data, their estimation panels and truths, evaluation and simulation study.

Imports flow one way: :mod:`bijstand.data` -> :mod:`bijstand.did` / :mod:`bijstand.models` -> ``bijstand.study``
-> :mod:`bijstand.report` -> notebooks -> paper.

* :mod:`.interventions` — an intervention described in a parameter file (:func:`load_intervention`);
* :mod:`.panels` — the estimation panel of a design, with the true effect on synthetic data;
* :mod:`.evaluate` — every estimator and inference method on one outcome, each number with its record;
* :mod:`.simulation` — the simulation study on the notebooks' own data-generating process;
* :mod:`.power` — power curves and minimum detectable effects for a planned roll-out;
* :mod:`.comparison` — soft against hard, like for like.
"""

from bijstand.study.interventions import Intervention, InterventionError, load_intervention
from bijstand.study.panels import DesignError, DesignPanel, design_panel

__all__ = ["DesignError", "DesignPanel", "Intervention", "InterventionError", "design_panel", "load_intervention"]
