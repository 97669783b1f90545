"""`descent lab schedules`: placeholder until its issue lands (the owner replaces this module)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("schedules", help="(not yet available)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise NotImplementedError("descent lab schedules is not built yet")
