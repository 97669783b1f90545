"""HTML reports: self-contained (no external resource), correct tables, and rendered by a real browser."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from descent import report  # noqa: E402
from descent.errors import DescentError  # noqa: E402
from descent.report import html as report_html  # noqa: E402


class _Resources(HTMLParser):
    """Collect every URL the page would load (src/href of img, script, link, iframe, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "src" or (name == "href" and tag == "link"):
                self.loaded.append(value or "")
            elif name == "href":
                self.links.append(value or "")


def _png(path: Path, w: int = 320, h: int = 200) -> None:
    fig, ax = plt.subplots(figsize=(w / 100, h / 100), dpi=100)
    ax.plot([0, 1, 2], [2.3, 1.0, 0.4])
    fig.savefig(path, dpi=100)
    plt.close(fig)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    metrics = {"test_accuracy": 0.8125, "val_accuracy": 0.79, "train_seconds": 3.5,
               "config": {"optimizer": "adam", "data": "mnist1d", "lr": 0.003},
               "monitor": {"findings": [
                   {"level": "ok", "check": "first loss", "message": "2.31 ~ ln(10)"},
                   {"level": "warning", "check": "update ratio", "message": "fc2 <script>"}],
                           "series": {"step": [0, 10, 20], "update_ratio": {"fc1": [1e-3, 8e-4, 7e-4]},
                                      "act_std": {"relu1": [0.6, 0.7, 0.7]}}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    with open(run / "history.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["epoch", "train_loss", "val_accuracy"])
        w.writeheader()
        w.writerows([{"epoch": 1, "train_loss": 1.5, "val_accuracy": 0.5},
                     {"epoch": 2, "train_loss": 0.9, "val_accuracy": 0.7}])
    _png(run / "curves.png")
    return run


def test_run_report_is_self_contained(run_dir: Path) -> None:
    path = report.write_run_report(run_dir)
    assert path == run_dir / "report.html"
    text = path.read_text()
    parser = _Resources()
    parser.feed(text)
    # every resource is inline: nothing on the network, nothing on disk
    assert parser.loaded and all(u.startswith("data:image/png;base64,") for u in parser.loaded)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert not re.search(r"https?://", text)
    # the curve PNG's bytes are there verbatim, plus the monitor's plot
    import base64

    assert base64.b64encode((run_dir / "curves.png").read_bytes()).decode() in text
    assert len(parser.loaded) == 2
    # numbers, findings (escaped) and history rows
    assert "0.8125" in text and "first loss" in text and "fc2 &lt;script&gt;" in text
    assert text.count("<tr>") >= 1 + 2 + 3


def test_run_report_needs_metrics(tmp_path: Path) -> None:
    with pytest.raises(DescentError, match="metrics.json"):
        report.write_run_report(tmp_path)


def test_fmt_and_table() -> None:
    assert report_html.fmt(0.123456) == "0.1235"
    assert report_html.fmt("0.123456") == "0.1235"
    assert report_html.fmt("12") == "12" and report_html.fmt("adam") == "adam" and report_html.fmt(None) == ""
    html = report_html.table([{"optimizer": "sgd", "acc": 0.5}], links={"sgd": "sgd/report.html"})
    assert '<a href="sgd/report.html">sgd</a>' in html and '<td class="num">0.5</td>' in html


def test_comparison_and_search_reports(tmp_path: Path) -> None:
    (tmp_path / "sgd").mkdir()
    (tmp_path / "sgd" / "report.html").write_text("<html></html>")
    _png(tmp_path / "loss.png")
    rows = [{"optimizer": "sgd", "best_val_accuracy": 0.6}, {"optimizer": "adam", "best_val_accuracy": 0.8}]
    text = report.write_comparison_report(tmp_path, rows).read_text()
    assert 'href="sgd/report.html"' in text and 'href="adam/report.html"' not in text
    rows = [{"trial": 0, "value": 0.3}, {"trial": 1, "value": 0.9}, {"trial": 2, "value": None}]
    text = report.write_search_report(tmp_path, rows, rows[1]).read_text()
    body = text.split("All trials")[1]
    assert body.index("0.9") < body.index("0.3")  # best first


# ---------------------------------------------------------------------------------------------- browser

_PROBE = """<script>
window.addEventListener('load', () => {
  const sizes = Array.from(document.images).map(
    i => i.complete + ':' + i.naturalWidth + 'x' + i.naturalHeight);
  const p = document.createElement('pre'); p.id = 'probe'; p.textContent = 'IMAGES ' + sizes.join(' ');
  document.body.appendChild(p);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: the headless report test needs it "
                "(apt-get install chromium, or run scripts/ensure-browser.sh)")


def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    browser = _chromium()
    page = report.write_run_report(run_dir)
    # the probe goes into a copy: the report itself carries no script
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
           probed.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<table>" in dom and "0.8125" in dom
    match = re.search(r"<pre id=\"probe\">IMAGES ([^<]*)</pre>", dom)
    assert match, "the probe script did not run: page did not finish loading"
    sizes = match.group(1).split()
    assert len(sizes) == 2
    for s in sizes:
        complete, dims = s.split(":")
        w, h = map(int, dims.split("x"))
        assert complete == "true" and w > 50 and h > 50, s  # the PNG decoded
    assert "true:320x200" in sizes  # curves.png's own size, decoded by the browser
