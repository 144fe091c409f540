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
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from stemunet.checkpoints import save_model
from stemunet.config import ModelConfig, SeparatorConfig, StftConfig
from stemunet.lab.runner import execute_notebook
from stemunet.lab.runs import load_parameter_file
from stemunet.separation.separator import Separator

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
    separate = {**load_parameter_file(ROOT / "parameters" / "separate_demo.yaml"), **SMALL_DATA, "checkpoint": str(train_run)}
    execute_notebook("separate", separate, runs_dir=runs, progress=False)
    explore = {**load_parameter_file(ROOT / "parameters" / "explore_demo.yaml"), **SMALL_DATA, "listen_seconds": 2.0}
    execute_notebook("explore", explore, runs_dir=runs, progress=False)
    # The source notebooks, as a user opens them from a clone (a folder without "_": not a run).
    shutil.copytree(ROOT / "notebooks", runs / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
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


def playwright_api():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed (Debian: apt-get install chromium; scripts/test.sh installs it)")
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("Playwright is not installed (pip install -e '.[test]'; scripts/test.sh installs it)")
    return sync_api


OVERFLOWING_TABLES = """(notebook) => Array.from(document.querySelectorAll(notebook + ' .jp-OutputArea-output table')).map(table => {
    const cell = table.closest('.jp-OutputArea-output');
    const line = parseFloat(getComputedStyle(table).lineHeight) || 16;
    const lines = !table.classList.contains('dataframe') ? 0 :  // data tables; not a layout table of players
        Math.max(...Array.from(table.querySelectorAll('th, td')).filter(c => c.rowSpan <= 1)
                     .map(c => c.getBoundingClientRect().height / line), 0);
    return {table: Math.ceil(table.getBoundingClientRect().width), cell: Math.floor(cell.getBoundingClientRect().width),
            lines: Math.round(lines * 10) / 10, header: table.innerText.slice(0, 60)};
}).filter(size => size.table > size.cell || size.lines > 2.5)"""
"""Tables wider than the output cell holding them (a user would have to scroll sideways), or squeezed
into it so far that a header or value runs over more than two lines."""

LOCAL_LINKS = """(notebook) => Array.from(document.querySelectorAll(notebook + ' .jp-Cell a[href]'))
    .filter(a => !a.getAttribute('href').startsWith('#') && new URL(a.href).origin === location.origin)
    .map(a => a.href)"""
"""Links of the notebook into the Jupyter server (JupyterLab rewrites relative ones to /files/...)."""


def check_links_and_tables(page, base: str, run_folder: Path, executed_runs: Path) -> None:
    """Every link resolves to a file inside the run folder that the server serves; no table overflows its cell."""
    overflowing = page.evaluate(OVERFLOWING_TABLES, VISIBLE)
    assert overflowing == [], f"{run_folder.name}: tables wider than their cell: {overflowing}"
    links = page.evaluate(LOCAL_LINKS, VISIBLE)
    for link in links:
        path = urllib.parse.unquote(urllib.parse.urlparse(link).path)
        prefix = f"/files/{run_folder.relative_to(executed_runs)}/"
        assert path.startswith(prefix), f"{run_folder.name}: a link leaving the run folder: {link}"
        response = page.request.get(link)
        assert response.status == 200, f"{run_folder.name}: {link} answers {response.status}"


def test_executed_runs_open_trusted_clean_and_rendered_in_jupyterlab(executed_runs, jupyterlab, tmp_path):
    sync_api = playwright_api()
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
            # The live widget is saved as one line saying to run the notebook, not as dead controls.
            assert page.locator(f"{VISIBLE} .jupyter-widgets, {VISIBLE} .widget-audio").count() == 0, "saved widget controls"
            assert "Live player (" in text and "Run All" in text
            assert page.locator(f"{VISIBLE} audio").count() >= 3  # the saved players
            assert page.locator(f"{VISIBLE} img").count() >= 1  # the figure
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, "an error box"
            assert page.locator(".jp-mod-dirty").count() == 0, "opened as modified"
            check_links_and_tables(page, base, listen.parent, executed_runs)

            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_run_notebook(page, base, token, str(evaluate.relative_to(executed_runs)), tmp_path / "evaluate.png")
            text = page.inner_text(VISIBLE)
            assert "100%" in text and " 0/" not in text, "progress bars in their final state"
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, "an error box"
            assert page.locator(".jp-mod-dirty").count() == 0, "opened as modified"
            assert page.locator(f"{VISIBLE} table").count() >= 5  # the score tables render
            check_links_and_tables(page, base, evaluate.parent, executed_runs)

            for run_folder in (next(executed_runs.glob("*_separate")), next(executed_runs.glob("*_explore"))):
                notebook = run_folder / f"{run_folder.name.split('_', 1)[1]}.ipynb"
                page.close()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                open_run_notebook(page, base, token, str(notebook.relative_to(executed_runs)), tmp_path / f"{notebook.stem}.png")
                text = page.inner_text(VISIBLE)
                assert "PosixPath(" not in text, f"{notebook.name}: a stray return value"
                assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, f"{notebook.name}: an error box"
                assert page.locator(f"{VISIBLE} .jupyter-widgets").count() == 0, f"{notebook.name}: saved widget controls"
                assert page.locator(f"{VISIBLE} table").count() >= 2
                check_links_and_tables(page, base, run_folder, executed_runs)
                if notebook.stem == "separate":
                    assert page.locator(f"{VISIBLE} a[href*='stems/']").count() >= 1  # the written stems are linked
        finally:
            browser.close()


def kernel_idle(base: str, token: str, path: str) -> bool:
    """Whether the notebook at ``path`` (relative to the server's root) has a started, idle kernel."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as response:
        sessions = json.load(response)
    return any(s.get("path") == path and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions)


def test_source_notebooks_stay_unmodified_when_their_kernel_starts(executed_runs, jupyterlab, tmp_path):
    """JupyterLab stores the kernel's language_info as soon as it connects: a notebook that lacks
    some of it turns modified, and autosave rewrites a tracked file."""
    sync_api = playwright_api()
    base, token = jupyterlab
    sources = sorted((executed_runs / "notebooks").glob("*.ipynb"))
    assert len(sources) == 5
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for source in sources:
                before = source.read_bytes()
                relative = str(source.relative_to(executed_runs))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                open_run_notebook(page, base, token, relative, tmp_path / f"source-{source.stem}.png")
                deadline = time.monotonic() + 90
                while not kernel_idle(base, token, relative):
                    assert time.monotonic() < deadline, f"{source.name}: its kernel did not start"
                    time.sleep(0.5)
                page.wait_for_timeout(3000)  # kernel info reaches the page, metadata is compared
                assert page.locator(".jp-mod-dirty").count() == 0, f"{source.name} turned modified when its kernel started"
                page.close()
                assert source.read_bytes() == before
        finally:
            browser.close()
