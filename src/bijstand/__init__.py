"""bijstand: effects of Dutch social-assistance interventions on outflow and re-inflow.

Layers, imported in one direction: :mod:`bijstand.data` -> :mod:`bijstand.did` /
:mod:`bijstand.models` -> :mod:`bijstand.report`.
"""

__version__ = "0.1.0"
