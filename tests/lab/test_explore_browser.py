"""explore.html in headless Chromium: a link decides the picture, and moving a slider changes the picture and
the fragment. Screenshots are compared pixel by pixel; a probe script (added to a copy of the page) moves a
slider as a user would and reads the fragment and the canvases back."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from descent.lab import explore

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


def _browse(page: Path, fragment: str, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    if BROWSER is None:
        pytest.fail("chromium is not installed: the explorer's browser tests need it "
                    "(apt-get install chromium, or run scripts/ensure-browser.sh)")
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1100,800",
           "--virtual-time-budget=5000", *mode, page.as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    grid = explore.Grid(functions=("quadratic", "saddle"), optimizers=("sgd", "momentum"), noises=(0.0, 1.0),
                        steps=30)
    path, _ = explore.write(tmp_path_factory.mktemp("explore"), grid)
    return path


def screenshot(page: Path, fragment: str, tmp_path: Path) -> np.ndarray:
    shot = tmp_path / f"shot-{len(list(tmp_path.glob('shot-*')))}.png"
    _browse(page, fragment, tmp_path / "profile", f"--screenshot={shot}")
    return np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))


def test_two_links_two_pictures_and_one_link_one_picture(page, tmp_path):
    a = "#function=quadratic&start=-7,2&optimizer=momentum&lr=0.1&momentum=0.9&noise=0"
    b = "#function=quadratic&start=-7,2&optimizer=sgd&lr=0.3&noise=0"
    first, again, other = (screenshot(page, f, tmp_path) for f in (a, a, b))
    assert first.shape == (800, 1100, 3)
    assert np.array_equal(first, again)
    changed = np.any(first != other, axis=2)
    assert changed.sum() > 2000  # a different path and loss curve, not a few pixels of text
    # the surface picture is drawn under both: its corner pixels (far from either path) are the same
    assert np.array_equal(first[560:595, 500:580], other[560:595, 500:580])


def test_another_surface_draws_another_background(page, tmp_path):
    quadratic = screenshot(page, "#function=quadratic&optimizer=sgd&lr=0.001", tmp_path)
    saddle = screenshot(page, "#function=saddle&optimizer=sgd&lr=0.001", tmp_path)
    assert np.any(quadratic[560:595, 500:580] != saddle[560:595, 500:580])


_PROBE = """<script>
(async () => {
  const sleep = () => new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 200 && !document.body.dataset.drawn; i++) await sleep();
  const view = () => ({hash: location.hash, drawn: document.body.dataset.drawn,
    picture: document.getElementById("surface").toDataURL() + document.getElementById("loss").toDataURL(),
    summary: document.getElementById("summary").textContent,
    lr: document.getElementById("lr-out").textContent});
  const before = view();
  const slider = document.getElementById("__SLIDER__");
  slider.value = String(__VALUE__);
  slider.dispatchEvent(new Event("input"));
  const after = view();
  const p = document.createElement("pre"); p.id = "probe";
  p.textContent = JSON.stringify({before, after});
  document.body.appendChild(p);
})();
</script>"""


def probe(page: Path, fragment: str, tmp_path: Path, slider: str, value: int) -> dict:
    probed = tmp_path / "probed.html"
    script = _PROBE.replace("__SLIDER__", slider).replace("__VALUE__", str(value))
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    dom = _browse(probed, fragment, tmp_path / "profile", "--dump-dom").stdout
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert match, "the probe did not run: the page did not draw"
    return json.loads(match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_moving_the_lr_slider_changes_the_picture_and_the_fragment(page, tmp_path):
    seen = probe(page, "#function=quadratic&start=-7,2&optimizer=momentum&lr=0.1&momentum=0.9&noise=0", tmp_path,
                 "lr", 2)  # the third of 0.001, 0.003, 0.01, ...
    before, after = seen["before"], seen["after"]
    assert before["hash"] == "#function=quadratic&start=-7,2&optimizer=momentum&lr=0.1&momentum=0.9&noise=0"
    assert after["hash"] == "#function=quadratic&start=-7,2&optimizer=momentum&lr=0.01&momentum=0.9&noise=0"
    assert after["lr"] == "0.01" and after["drawn"] == "quadratic|-7,2|momentum|0.01|0.9|0"
    assert before["picture"] != after["picture"]


def test_the_summary_shows_the_step_count_of_the_path(page, tmp_path):
    # momentum lr=0.3, momentum=0.5 on x^2/20 + y^2 from (7, -0.5), run here by torch.optim.SGD
    theta = torch.tensor([7.0, -0.5], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=0.3, momentum=0.5)
    reached = None
    for t in range(31):
        if reached is None and float(theta.detach().norm()) <= 1e-3:
            reached = t
        optimizer.zero_grad()
        (theta[0] ** 2 / 20 + theta[1] ** 2).backward()
        optimizer.step()
    seen = probe(page, "#function=quadratic&start=7,-0.5&optimizer=momentum&lr=0.3&momentum=0.5", tmp_path,
                 "noise", 1)
    expected = "not within 0.001 of a global minimum in 30 steps" if reached is None else f"at step {reached};"
    assert expected in seen["before"]["summary"]
    assert seen["after"]["hash"].endswith("&noise=1") and seen["before"]["picture"] != seen["after"]["picture"]


def test_a_value_off_the_grid_snaps_and_the_fragment_says_so(page, tmp_path):
    seen = probe(page, "#optimizer=momentum&lr=0.05&momentum=0.85&function=saddle&bogus=1", tmp_path, "knob", 0)
    assert seen["before"]["hash"] == "#function=saddle&start=-5,0&optimizer=momentum&lr=0.03&momentum=0.9&noise=0"
    assert seen["after"]["hash"] == "#function=saddle&start=-5,0&optimizer=momentum&lr=0.03&momentum=0.5&noise=0"
