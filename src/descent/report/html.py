"""The pieces of descent's self-contained HTML pages: embedded images, tables, findings, the page itself.

Every picture is embedded as a ``data:`` URI and the style sheet is inline, so a report opens offline, can be
mailed as one file, and never loads anything from the network. The pages are plain HTML tables and images;
no script runs in them.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import write_text
from .curves import pyplot

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .25em .7em; border: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0; }
.ok { color: #1a7f37; } .warning { color: #9a6700; } .error { color: #cf222e; font-weight: bold; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; }
"""

_LEVEL_MARK = {"ok": "&#10003;", "info": "&#8505;", "warning": "&#9888;", "error": "&#10007;"}


# ---------------------------------------------------------------------------------------------- pieces


def data_uri(data: bytes, mime: str = "image/png") -> str:
    """``data`` as a base64 ``data:`` URI of type ``mime``, for embedding in a page."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(path: str | os.PathLike, alt: str | None = None) -> str:
    """An ``<img>`` holding the file's bytes (PNG, JPEG, GIF or SVG by suffix)."""
    p = Path(path)
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".svg": "image/svg+xml"}.get(p.suffix.lower(), "application/octet-stream")
    return f'<img src="{data_uri(p.read_bytes(), mime)}" alt="{html.escape(alt or p.stem)}">'


def figure(fig: Any, alt: str) -> str:
    """An ``<img>`` of a matplotlib figure rendered to PNG in memory (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return f'<img src="{data_uri(buf.getvalue())}" alt="{html.escape(alt)}">'


def fmt(value: Any) -> str:
    """Floats (also floats read back from a CSV) to 4 significant digits; everything else as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    if isinstance(value, (bool, int)) or not _is_number(text) or text.lstrip("-").isdigit():
        return text
    return f"{float(text):.4g}"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
          links: Mapping[str, str] | None = None) -> str:
    """An HTML table of ``rows``; ``links`` maps a first-column value to a relative link."""
    if not rows:
        return "<p>(no rows)</p>"
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(columns):
            text = html.escape(fmt(row.get(c)))
            if i == 0 and links and str(row.get(c)) in links:
                text = f'<a href="{html.escape(links[str(row.get(c))])}">{text}</a>'
            numeric = _is_number(row.get(c))
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _is_number(value: Any) -> bool:
    try:
        float(value)
        return not isinstance(value, bool)
    except (TypeError, ValueError):
        return False


def findings(items: Iterable[Mapping[str, Any]]) -> str:
    """The monitor's findings as a list with a mark per level (ok, info, warning, error)."""
    lines = []
    for f in items:
        level = str(f.get("level", "info"))
        mark = _LEVEL_MARK.get(level, "")
        check, message = html.escape(str(f.get("check", ""))), html.escape(str(f.get("message", "")))
        lines.append(f'<li class="{html.escape(level)}">{mark} <b>{check}</b>: {message}</li>')
    return "<ul>" + "".join(lines) + "</ul>" if lines else "<p>(no findings)</p>"


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A whole HTML document: a title and ``(heading, html)`` sections."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{body}" if h else body for h, body in sections]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(path: str | os.PathLike, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write :func:`page` of ``title`` and ``sections`` to ``path`` (atomically); returns the path."""
    write_text(path, page(title, sections))
    return Path(path)


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file with a header, as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def pictures(folder: str | os.PathLike, first: Sequence[str] = ()) -> str:
    """Every PNG of ``folder``: the names in ``first`` in that order, then the others sorted by name."""
    found = sorted(Path(folder).glob("*.png"), key=lambda p: (p.name not in first, list(first).index(p.name)
                                                                if p.name in first else 0, p.name))
    return "\n".join(image(p) for p in found)
