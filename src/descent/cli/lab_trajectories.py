"""`descent lab trajectories`: placeholder until its issue lands (the owner replaces this module)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("trajectories", help="(not yet available)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise NotImplementedError("descent lab trajectories is not built yet")
