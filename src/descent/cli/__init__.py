"""The ``descent`` command line.

Each sub-command lives in its own module with ``register(subparsers)``, which adds its parser and sets
``func`` to a function ``run(args) -> int``. User errors (ValueError, DescentError, missing files) end with a
one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from ..errors import DescentError, one_line
from . import _needs

# Sub-command modules, in the order --help lists them.
COMMANDS = ("train", "compare", "search", "ensemble", "gradcheck", "lr_find", "lab")


def one_wording(message: str) -> str:
    """argparse's messages about one flag's value in descent's wording: ``invalid --FLAG=VALUE: must be ...``."""
    typed = re.fullmatch(r"argument (\S+?)(?:/\S+)?: invalid value (.*?): must be (.*)", message, re.S)
    if typed:
        return f"invalid {typed[1]}={typed[2]}: must be {typed[3]}"
    choice = re.fullmatch(r"argument (\S+?)(?:/\S+)?: invalid choice: (.*?) \(choose from (.*)\)", message, re.S)
    if choice:
        return f"invalid {choice[1]}={choice[2]}: must be one of {choice[3].replace(chr(39), '')}"
    return message


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line and exit status 2 (argparse's own convention)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(one_wording(message))}\n")


def build_parser() -> argparse.ArgumentParser:
    """``descent``'s parser: ``--version`` and one sub-parser per module of :data:`COMMANDS`."""
    parser = _Parser(
        prog="descent",
        description="Optimizers, schedules and a lab for 'Training Neural Networks II' (CS231n lecture 7).",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"descent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; the exit status: 0 done, 2 bad input or a missing package, 130 interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    absent = _needs.missing(args)  # before any work: a missing extra is named now, not after training
    if absent:
        print(f"descent {_needs.command_name(args)}: error: {_needs.message(absent)}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (DescentError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        print(f"descent {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"descent {args.command}: interrupted", file=sys.stderr)
        return 130
