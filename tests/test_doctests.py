"""The ``>>>`` examples in the docstrings of :mod:`bijstand.did` run and print what they show.

Equivalent to ``pytest --doctest-modules src/bijstand/did`` (run as part of ``make test`` through this module).
The examples use the ``mpdta`` panel shipped with the declared dependency ``moderndid``, or panels built inline.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bijstand.did

MODULES = sorted(info.name for info in pkgutil.iter_modules(bijstand.did.__path__, prefix="bijstand.did."))
#: Modules whose public estimators must carry runnable examples.
WITH_EXAMPLES = {"bijstand.did.attgt", "bijstand.did.aggte", "bijstand.did.twfe"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False,
                             report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} has no runnable examples"


def test_the_estimators_named_by_the_project_have_examples():
    from bijstand.did.aggte import AggregateResult, aggregate
    from bijstand.did.attgt import att_gt
    from bijstand.did.twfe import twfe_static

    for function in (att_gt, AggregateResult, aggregate, twfe_static):
        examples = doctest.DocTestParser().get_examples(function.__doc__)
        assert examples, f"{function.__qualname__} has no >>> example"
