"""Duration and hazard models for exits from social assistance and re-inflow (see :mod:`bijstand.models.duration`)."""

from bijstand.models.duration import (
    EXIT_REASON_CODES,
    SpellDurations,
    cumulative_incidence,
    exits_to_durations,
    hazard_model,
    kaplan_meier,
)

__all__ = [
    "EXIT_REASON_CODES",
    "SpellDurations",
    "cumulative_incidence",
    "exits_to_durations",
    "hazard_model",
    "kaplan_meier",
]
