"""Command line: ``bijstand reproduce | test | run | plan | list | simulate | validate-data | paper | freeze``.

Every command also runs as ``python -m bijstand <command>`` (Windows without make: ``.venv\\Scripts\\python -m
bijstand reproduce``). ``make reproduce`` and ``make test`` call ``bijstand reproduce`` and ``bijstand test``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from bijstand.pipeline import run_notebooks

    outputs = run_notebooks(args.notebooks, args.params, output_dir=args.output_dir,
                            progress=False if args.no_progress else None,
                            skip_up_to_date=args.skip_up_to_date, log=print)
    return 0 if outputs or not args.notebooks else 1


def _cmd_plan(args: argparse.Namespace) -> int:
    from bijstand.pipeline import is_up_to_date, plan_runs

    for run in plan_runs(args.runs, args.params):
        if args.status:
            state = "up to date" if is_up_to_date(run) else "to run"
            print(f"{run.run}\t{run.notebook.stem}\t{state}")
        else:
            print(run.run)
    return 0


def _format_parameter(name: str, spec: dict) -> str:
    default = "<expression>" if spec["default"] is ... else repr(spec["default"])
    allowed = f"  (allowed: {spec['allowed'].describe()})" if spec["allowed"] else ""
    return f"    {name}: {spec['type']} = {default}{allowed}"


def _cmd_list(args: argparse.Namespace) -> int:
    from bijstand.pipeline import declared_parameters, default_params_file, list_notebooks, plan_runs, run_outputs

    print("notebooks (notebooks/<name>.ipynb) and their parameters:")
    for nb in list_notebooks():
        print(f"  {nb.stem}")
        for name, spec in declared_parameters(nb).items():
            print("  " + _format_parameter(name, spec))
    params = args.params or (default_params_file() if default_params_file().is_file() else None)
    title = f"runs of {params}" if params else "runs (no parameter file: every notebook with its defaults)"
    print(f"\n{title}:")
    for run in plan_runs(None, params):
        set_here = ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()) or "notebook defaults"
        outputs = run_outputs(run.run)
        state = f"{len(outputs)} files in results/{run.run}/" if outputs else f"none yet (results/{run.run}/)"
        print(f"  {run.run}  <- notebooks/{run.notebook.name}\n    parameters: {set_here}\n    outputs: {state}")
    return 0


def _cmd_freeze(args: argparse.Namespace) -> int:
    from bijstand.paths import project_root
    from bijstand.pipeline import freeze_outputs, resolve_notebook, run_notebooks
    from bijstand.report.results import RESULTS_DIR_ENV

    build = project_root() / "build" / "freeze"
    # the notebooks' small defaults must not overwrite the paper's results in results/
    os.environ[RESULTS_DIR_ENV] = str(build / "results")
    for name in args.notebooks:
        nb = resolve_notebook(name)
        executed = run_notebooks([nb.stem], None, output_dir=build)[0]
        freeze_outputs(executed, nb)
        print(f"froze outputs of {nb}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from bijstand.data.sources import write_synthetic
    from bijstand.pipeline import prepare_synthetic_data

    if args.params:
        folders = prepare_synthetic_data(args.params, Path(args.out))
    else:
        folders = [write_synthetic(Path(args.out), seed=args.seed, scale=args.scale)]
    for folder in folders:
        print(f"synthetic register in {folder}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Check a delivery folder exactly as ``bijstand run`` reads it (``load_register``), or one file.

    Problems go to stderr (one line each, no traceback) and give exit code 1; a valid delivery prints one summary
    line per file and gives 0.
    """
    import warnings

    from bijstand.data.validate import DataValidationError, DataValidationWarning, describe, validate_partner_file

    path = Path(args.path).expanduser()
    if not path.exists():
        relative = "" if path.is_absolute() else f" (a relative path is taken from the current folder, {Path.cwd()})"
        print(f"bijstand validate-data: {os.path.abspath(path)}: no such file or folder{relative}", file=sys.stderr)
        return 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataValidationWarning)
        try:
            if path.is_dir():
                from bijstand.data.sources import load_register

                register = load_register(str(path))
                frames = {"areas": register.areas, "spells": register.spells}
                if register.spells is None:
                    frames["panel"] = register.panel
                lines = [f"{register.params['files'][table]}: {describe(table, frames[table])}"
                         for table in ("areas", "spells", "panel") if table in register.params["files"]]
                lines.append(f"{register.params['source']}: valid {register.params['delivery']} delivery "
                             f"({'spells + areas' if register.spells is not None else 'panel + areas'})")
            else:
                kind = args.kind or _kind_from_name(path)
                frame = validate_partner_file(path, kind=kind, known_areas=args.areas)
                lines = [f"{path}: {describe(kind, frame)}", f"{path}: valid {kind} file"]
        except DataValidationError as err:
            _print_warnings(caught)
            print(str(err), file=sys.stderr)
            return 1
        except (FileNotFoundError, NotADirectoryError) as err:
            print(f"bijstand validate-data: {err}", file=sys.stderr)
            return 1
        except ValueError as err:  # the panel builder refused the validated spells
            print(f"bijstand validate-data: {path}: {err}", file=sys.stderr)
            return 1
    _print_warnings(caught)
    for line in lines:
        print(line)
    return 0


def _kind_from_name(path: Path) -> str:
    """``spells``/``areas``/``panel`` from a file name such as ``areas_2024.csv``; ``spells`` otherwise."""
    name = path.name.lower()
    return next((kind for kind in ("areas", "panel", "spells") if name.startswith(kind)), "spells")


def _print_warnings(caught) -> None:
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)


def _cmd_paper(args: argparse.Namespace) -> int:
    from bijstand.report.paper import build_paper

    outputs = build_paper(results_dir=args.results, params_file=args.params, out_dir=args.out)
    for path in outputs:
        print(f"built {path}")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from bijstand.pipeline import reproduce

    outputs = reproduce(args.params, force=args.force, paper=not args.no_paper,
                        progress=False if args.no_progress else None)
    print("done: notebooks in build/notebooks/, results in results/" + ("" if args.no_paper else
                                                                        ", paper in build/paper/"))
    for path in outputs:
        print(f"  {path}")
    return 0


def _cmd_test(args: argparse.Namespace) -> int:
    from bijstand.pipeline import run_tests

    pytest_args = [a for a in args.pytest_args if a != "--"]
    return run_tests(pytest_args)


def build_parser() -> argparse.ArgumentParser:
    """The ``bijstand`` argument parser."""
    parser = argparse.ArgumentParser(prog="bijstand", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="everything after the environment: data, every run of the parameter "
                                           "file, the paper (what make reproduce does)")
    rep.add_argument("--params", help="parameter file (default: params/paper.yaml)")
    rep.add_argument("--force", action="store_true", help="execute runs that are up to date too")
    rep.add_argument("--no-paper", action="store_true", help="stop after the notebooks (no paper extra needed)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bars (also when CI=true)")
    rep.set_defaults(func=_cmd_reproduce)

    tst = sub.add_parser("test", help="unit tests + every notebook under nbval (what make test does)")
    tst.add_argument("pytest_args", nargs=argparse.REMAINDER,
                     help="arguments for pytest instead of 'tests notebooks', e.g. tests/test_pipeline.py -x")
    tst.set_defaults(func=_cmd_test)

    run = sub.add_parser("run", help="execute runs (notebooks) with Papermill into build/notebooks/")
    run.add_argument("notebooks", nargs="*", metavar="run", help="run names, or notebook names or prefixes "
                                                                 "(every run of that notebook); default: all")
    run.add_argument("--params", help="parameter file, e.g. params/paper.yaml (default: notebook defaults)")
    run.add_argument("--output-dir", type=Path, default=None, help="where executed notebooks go")
    run.add_argument("--no-progress", action="store_true", help="no progress bars (also when CI=true)")
    run.add_argument("--skip-up-to-date", action="store_true",
                     help="skip runs made from the same notebook, parameters, code and data")
    run.set_defaults(func=_cmd_run)

    plan = sub.add_parser("plan", help="the run names a parameter file gives, one per line")
    plan.add_argument("runs", nargs="*", help="run names or notebook names (default: all)")
    plan.add_argument("--params", help="parameter file (default: notebook defaults)")
    plan.add_argument("--status", action="store_true", help="also print the notebook and whether it is up to date")
    plan.set_defaults(func=_cmd_plan)

    lst = sub.add_parser("list", help="notebooks with their parameters; runs with their outputs")
    lst.add_argument("--params", help="parameter file whose runs to list (default: params/paper.yaml)")
    lst.set_defaults(func=_cmd_list)

    freeze = sub.add_parser("freeze", help="run notebooks with their defaults and commit-ready outputs")
    freeze.add_argument("notebooks", nargs="+")
    freeze.set_defaults(func=_cmd_freeze)

    sim = sub.add_parser("simulate", help="write the synthetic register (spells, areas, truth)")
    sim.add_argument("--out", default="data/synthetic")
    sim.add_argument("--seed", type=int, default=20240101)
    sim.add_argument("--scale", type=float, default=1.0)
    sim.add_argument("--params", help="write every register the notebooks read under this parameter file")
    sim.set_defaults(func=_cmd_simulate)

    val = sub.add_parser("validate-data", help="check a partner's delivery folder (spells + areas, or panel + areas) "
                                               "as `run` reads it, or one file (CSV or Parquet)")
    val.add_argument("path", help="delivery folder, or one file")
    val.add_argument("--kind", choices=["spells", "areas", "panel"], default=None,
                     help="format of a single file (default: from its name, e.g. areas.csv; else spells)")
    val.add_argument("--areas", default=None, help="single spells or panel file: check its areas against this file")
    val.set_defaults(func=_cmd_validate)

    paper = sub.add_parser("paper", help="build the paper (PDF, HTML) from results/")
    paper.add_argument("--results", default="results")
    paper.add_argument("--params", default="params/paper.yaml")
    paper.add_argument("--out", default="build/paper")
    paper.set_defaults(func=_cmd_paper)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bijstand`` console script and of ``python -m bijstand``."""
    from bijstand.extras import MissingExtraError
    from bijstand.pipeline import NotebookFailed, ParameterError
    from bijstand.report.paper import PaperBuildError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ParameterError, NotebookFailed, PaperBuildError, FileNotFoundError, MissingExtraError) as err:
        print(f"bijstand {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
