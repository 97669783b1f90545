"""`descent lab explore`: the interactive explorer, one self-contained page.

    descent lab explore --out runs/lab                      # every surface and optimizer (about a minute)
    descent lab explore --out runs/lab --functions quadratic,saddle --optimizers sgd,momentum,adam

Writes ``explore.html``: pick the surface, the start, the optimizer, the learning rate, the momentum/beta
value and the gradient noise; see the path, the loss curve and the step count to the minimum. Every path was
computed by descent's optimizers before the page was written (see :mod:`descent.lab.explore`); the view lives
in the URL fragment, so a link reproduces it.
"""

from __future__ import annotations

from ..errors import DescentError
from ..lab import explore
from ._common import positive_int


def _names(text: str | None, flag: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of names from ``known`` (all of them when the flag is not given)."""
    if text is None:
        return known
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise DescentError(f"invalid {flag}={text!r}: must be a comma-separated list of {', '.join(known)}")
    return names


def register(sub) -> None:
    p = sub.add_parser(
        "explore", help="an interactive page: pick optimizer, lr, beta, noise, start; see the path",
        description="Write explore.html: the paths of descent's optimizers on 2-D surfaces for a grid of "
        "settings, with controls to pick one. Self-contained (no network); the view lives in the URL fragment.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--functions", help=f"comma-separated surfaces (default: {','.join(explore.FUNCTIONS)})")
    p.add_argument("--optimizers", help=f"comma-separated optimizers (default: {','.join(explore.OPTIMIZERS)})")
    p.add_argument("--steps", type=positive_int, default=100, help="steps per path (default 100)")
    p.set_defaults(func=run)


def run(args) -> int:
    grid = explore.Grid(functions=_names(args.functions, "--functions", explore.FUNCTIONS),
                        optimizers=_names(args.optimizers, "--optimizers", explore.OPTIMIZERS), steps=args.steps)
    path, count = explore.write(args.out, grid)  # refuses an oversized grid before creating --out
    print(f"wrote {path} ({count} paths of {grid.steps} steps, {path.stat().st_size / 1e6:.1f} MB)")
    return 0
