"""The ``recommender`` command line: one module per group of sub-commands.

The top layer of the project: it may import the library, ``training`` and ``serving``, but only
inside the command functions, so ``--help`` stays fast and ``recommender train`` imports no web
server. A new command is one function in its group's module (``data``, ``models``, ``forecast``,
``serve``), declared with ``@commands.command(name, help, arguments)``; a new group is a module with
its own :class:`~recommender.cli.commands.Group`, added to :data:`GROUPS`.
"""
from __future__ import annotations

import argparse
import logging
import sys

from recommender.cli import data, forecast, models, serve
from recommender.cli.commands import Group
from recommender.contract import ContractError
from recommender.extras import MissingExtraError, missing_extra
from recommender.logs import configure_logging
from recommender.signals import interrupt_on_sigterm

GROUPS: tuple[Group, ...] = (data.commands, models.commands, forecast.commands, serve.commands)

DESCRIPTION = ("Demand matching for rural produce and handicrafts: train, evaluate and serve recommendations, "
               "forecast merchants' demand, run exposure campaigns.")


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("recommender")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command of every group."""
    parser = argparse.ArgumentParser(prog="recommender", description=DESCRIPTION,
                                     epilog="Each command's options: recommender COMMAND --help.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"recommender {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        for command in group.commands:
            subparser = sub.add_parser(command.name, help=command.help, description=command.help)
            command.arguments(subparser)
            subparser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``recommender`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    interrupt_on_sigterm()  # one line, no traceback (serve drains instead)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.verbose:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except (ContractError, ValueError, FileNotFoundError) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # a package of an extra that is not installed: say which extra
        missing = exc if isinstance(exc, MissingExtraError) else missing_extra(exc, f"recommender {args.command}")
        if missing is None or args.verbose:
            raise
        print(f"error: {missing}", file=sys.stderr)
        return 2
