"""`descent lab`: pictures of the lecture's ideas. Each lab topic is a module ``lab_<topic>.py`` here with
``register(subparsers)``; this module only groups them."""

from __future__ import annotations

import importlib

TOPICS = ("trajectories", "schedules", "init", "explore", "sharpness", "landscape")


def register(sub) -> None:
    p = sub.add_parser("lab", help="draw the lecture's pictures (trajectories, schedules, init, explore, "
                       "sharpness, landscape)")
    inner = p.add_subparsers(dest="topic", metavar="TOPIC", parser_class=type(p))
    inner.required = True
    for topic in TOPICS:
        importlib.import_module(f"{__package__}.lab_{topic}").register(inner)
