"""Executed run notebooks, opened in JupyterLab in a real (headless) Chromium: what a user sees.

JupyterLab runs on 127.0.0.1 with this project's environment; Playwright drives Debian's
``chromium`` (no browser download). Screenshots land in the test's temporary folder, so a failure
can be looked at. Without Chromium or Playwright this test fails, saying what to install
(``scripts/test.sh`` installs both); it is never silently skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.runs import execute_notebook, load_parameter_file
from stemunet.separator import Separator

ROOT = Path(__file__).resolve().parents[1]
SMALL_DATA = {"synthetic_train_tracks": 4, "synthetic_test_tracks": 2, "synthetic_seconds": 6.0}
CHROMIUM = os.environ.get("STEMUNET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def executed_runs(tmp_path_factory) -> Path:
    """A fake training run, then an evaluate and a listen run of it, executed by the runner."""
    runs = tmp_path_factory.mktemp("runs")
    train_run = runs / "2026-01-01T00-00-00_train"
    (train_run / "checkpoints").mkdir(parents=True)
    config = SeparatorConfig(StftConfig(sample_rate=22050, n_channels=1, n_fft=512, hop_length=128), ModelConfig(base_channels=4, depth=2))
    save_model(Separator(config), train_run / "checkpoints" / "best.pt")
    (train_run / "parameters.yaml").write_text(yaml.safe_dump({"notebook": "train", "parameters": config.to_params()}))
    (train_run / "metrics.json").write_text(json.dumps({"finished": True}))
    evaluate = {**load_parameter_file(ROOT / "parameters" / "evaluate_demo.yaml"), **SMALL_DATA,
                "checkpoint": str(train_run), "max_seconds": 2.0, "n_workers": 1}  # fmt: skip
    execute_notebook("evaluate", evaluate, runs_dir=runs, progress=False)
    listen = {**load_parameter_file(ROOT / "parameters" / "listen_demo.yaml"), **SMALL_DATA,
              "runs": [str(train_run)], "start_seconds": 0.0, "duration_seconds": 2.0}  # fmt: skip
    execute_notebook("listen", listen, runs_dir=runs, progress=False)
    return runs


@pytest.fixture(scope="module")
def jupyterlab(executed_runs):
    """``(base_url, token)`` of a JupyterLab serving the runs folder, stopped afterwards."""
    port, token = free_port(), "stemunet-test"
    # Every cell in the page (JupyterLab 4 otherwise renders only what is near the viewport), no news pop-up.
    settings = executed_runs.parent / "lab-settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={executed_runs}", "--ServerApp.open_browser=False",
               "--allow-root"]  # fmt: skip
    environment = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces")}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("JupyterLab did not start")
            time.sleep(0.5)
    yield base, token
    server.terminate()
    server.wait(timeout=30)


VISIBLE = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
"""The notebook on show (JupyterLab restores earlier tabs, hidden)."""


def open_run_notebook(page, base: str, token: str, relative: str, screenshot: Path):
    page.goto(f"{base}/lab/tree/{relative}?reset&token={token}")
    page.wait_for_selector(f"{VISIBLE} .jp-Cell", timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(3000)  # widgets render from the saved state
    page.screenshot(path=str(screenshot), full_page=True)


def test_executed_runs_open_trusted_clean_and_rendered_in_jupyterlab(executed_runs, jupyterlab, tmp_path):
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (Debian: apt-get install chromium; scripts/test.sh installs it)")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("Playwright is not installed (pip install -e '.[test]'; scripts/test.sh installs it)")
    base, token = jupyterlab
    listen = next(executed_runs.glob("*_listen")) / "listen.ipynb"
    evaluate = next(executed_runs.glob("*_evaluate")) / "evaluate.ipynb"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_run_notebook(page, base, token, str(listen.relative_to(executed_runs)), tmp_path / "listen.png")
            text = page.inner_text(VISIBLE)
            assert "VBox(children" not in text and "HBox(children" not in text, "a widget shown as its text repr"
            assert page.locator(f"{VISIBLE} .widget-audio, {VISIBLE} audio").count() >= 6  # live widget + saved players
            assert page.locator(f"{VISIBLE} img").count() >= 3  # spectrograms, figure
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, "an error box"
            assert page.locator(".jp-mod-dirty").count() == 0, "opened as modified"

            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_run_notebook(page, base, token, str(evaluate.relative_to(executed_runs)), tmp_path / "evaluate.png")
            text = page.inner_text(VISIBLE)
            assert "100%" in text and " 0/" not in text, "progress bars in their final state"
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, "an error box"
            assert page.locator(".jp-mod-dirty").count() == 0, "opened as modified"
            assert page.locator(f"{VISIBLE} table").count() >= 5  # the score tables render
        finally:
            browser.close()
