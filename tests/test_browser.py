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
    # The demo's excerpts and players (what makes a run notebook large), on the small data set; two
    # models compared, as the demo compares its model with the bundled one.
    listen = {**load_parameter_file(ROOT / "parameters" / "listen_demo.yaml"), **SMALL_DATA,
              "runs": [str(train_run), "pretrained"], "start_seconds": 0.0}  # fmt: skip
    execute_notebook("listen", listen, runs_dir=runs, progress=False)
    separate = {**load_parameter_file(ROOT / "parameters" / "separate_demo.yaml"), **SMALL_DATA, "checkpoint": str(train_run)}
    execute_notebook("separate", separate, runs_dir=runs, progress=False)
    explore = {**load_parameter_file(ROOT / "parameters" / "explore_demo.yaml"), **SMALL_DATA}
    execute_notebook("explore", explore, runs_dir=runs, progress=False)
    # The source notebooks, as a user opens them from a clone (a folder without "_": not a run).
    shutil.copytree(ROOT / "notebooks", runs / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    run_source_notebook(runs / "project", "listen", {**SMALL_DATA, "runs": [str(train_run)], "duration_seconds": 2.0})
    return runs


def run_source_notebook(project: Path, notebook: str, parameters: dict) -> Path:
    """``notebook`` run in place in ``project/notebooks`` (a clone of the project, as JupyterLab runs a
    source notebook: its kernel in that folder, its run folder under ``project/runs``), saved over
    itself as Run All and Save would; returns the saved notebook."""
    import papermill

    (project / "lib" / "stemunet").mkdir(parents=True)
    (project / "notebooks").mkdir()
    source = project / "notebooks" / f"{notebook}.ipynb"
    shutil.copy(ROOT / "notebooks" / f"{notebook}.ipynb", source)
    runs_before = os.environ.get("STEMUNET_RUNS")
    os.environ["STEMUNET_RUNS"] = str(project / "runs")  # the kernel inherits it
    try:
        papermill.execute_notebook(str(source), str(source), parameters=parameters, cwd=str(source.parent),
                                   kernel_name="python3", progress_bar=False)  # fmt: skip
    finally:
        if runs_before is None:
            os.environ.pop("STEMUNET_RUNS")
        else:
            os.environ["STEMUNET_RUNS"] = runs_before
    from stemunet.lab.runner import sign_notebook

    sign_notebook(source)  # trusted, as the notebook a user ran is
    return source


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
    # The project's server settings (the pre-save hook refusing saves over run records) as
    # scripts/setup.sh installs them into the environment, read from the repository here, so the
    # server under test has them whether or not setup ran.
    config_path = os.pathsep.join(filter(None, [str(ROOT / "jupyter-config"), os.environ.get("JUPYTER_CONFIG_PATH")]))
    environment = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(settings / "workspaces"),
                   "JUPYTER_CONFIG_PATH": config_path}  # fmt: skip
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


OVERFLOWING_TABLES = """(notebook) => Array.from(document.querySelectorAll(notebook + ' .jp-OutputArea-output table'))
  .filter(table => !table.closest('.stemunet-player')).map(table => {
    const cell = table.closest('.jp-OutputArea-output');
    const cells = Array.from(table.querySelectorAll('th, td')).filter(c => c.rowSpan <= 1 && c.innerText.trim());
    const lines = c => {  // the lines its text is laid out on (a row's height is its tallest cell's)
        const range = document.createRange();
        range.selectNodeContents(c);
        return new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.bottom))).size;
    };
    const number = /^[-+]?[0-9.]+(e[-+]?[0-9]+)?( ± [0-9.]+)?$/;
    return {table: Math.ceil(table.getBoundingClientRect().width), cell: Math.floor(cell.getBoundingClientRect().width),
            lines: Math.max(...cells.map(lines), 0),
            numberLines: Math.max(...cells.filter(c => number.test(c.innerText.trim())).map(lines), 0),
            header: table.innerText.slice(0, 60)};
}).filter(size => size.table > size.cell || size.lines > 3 || size.numberLines > 1)"""
"""Tables wider than the output cell holding them (a user would have to scroll sideways), or squeezed
so far that a label or value runs over more than three lines, or a number ("4.95 ± 1.21") over more than one."""

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


def test_saving_over_a_run_record_in_jupyterlab_is_refused_and_says_save_as(executed_runs, jupyterlab, tmp_path):
    """As root (the read-only bit does not stop root), an edited run notebook and Ctrl+S: the server
    refuses (the project's pre-save hook), JupyterLab shows the save error naming "Save Notebook As",
    and the record on disk is untouched."""
    sync_api = playwright_api()
    base, token = jupyterlab
    record = next(executed_runs.glob("*_explore")) / "explore.ipynb"
    relative = str(record.relative_to(executed_runs))
    before, mtime = record.read_bytes(), record.stat().st_mtime_ns
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_run_notebook(page, base, token, relative, tmp_path / "record.png")
            page.locator(f"{VISIBLE} .jp-CodeCell .cm-content").first.click()
            page.keyboard.type("# edited in JupyterLab")
            page.wait_for_selector(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty", timeout=10_000)
            with page.expect_response(lambda r: r.request.method == "PUT" and "/api/contents/" in r.url, timeout=30_000) as saved:
                page.keyboard.press("Control+s")
            assert saved.value.status == 403, f"the save answered {saved.value.status}, not refused"
            dialog = page.locator(".jp-Dialog")
            dialog.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "record-save-refused.png"), full_page=True)
            text = dialog.inner_text()
            assert "File Save Error" in text and "Save Notebook As" in text, text
            dialog.locator("button.jp-Dialog-button").last.click()  # its one button, "Close"
            dialog.wait_for(state="detached", timeout=10_000)
            assert page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count() == 1, "shown as saved"
        finally:
            browser.close()
    assert record.read_bytes() == before and record.stat().st_mtime_ns == mtime, "the run record was written over"


# -- the synced player, the layout at 1100 px, links from a source notebook, sizes ----------------------


def launch(playwright):
    """Chromium as the tests drive it; audio may start without a click (the tests click anyway)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])


PLAYER_STATE = """(root) => ({...root.stemunetPlayer.state(), now: performance.now(),
    playhead: root.querySelector('.stemunet-playhead').getBoundingClientRect().left})"""
"""What a synced player plays (its own report, gains as the audio thread has them), when, and where its playhead is drawn."""


def wait_for_state(page, root, condition, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(PLAYER_STATE, root)
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"the player never reached the state wanted: {state}"
        page.wait_for_timeout(50)


def audible(state: dict) -> list[int]:
    return [index for index, gain in enumerate(state["gains"]) if gain != 0]


def test_the_synced_player_switches_sources_at_one_playhead_with_one_audible(executed_runs, jupyterlab, tmp_path):
    """In the saved listen run notebook, without a kernel: play, switch by key while playing (the
    playhead runs on, one source audible), seek by key and by a click on the waveform, pause; the
    keys never reach JupyterLab (a 2 in command mode would turn a cell into a heading)."""
    sync_api = playwright_api()
    base, token = jupyterlab
    listen = next(executed_runs.glob("*_listen")) / "listen.ipynb"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            open_run_notebook(page, base, token, str(listen.relative_to(executed_runs)), tmp_path / "listen-player.png")
            markdown_cells = page.locator(f"{VISIBLE} .jp-MarkdownCell").count()
            player = page.locator(f"{VISIBLE} .stemunet-player.stemunet-synced")
            assert player.count() == 1, "the saved player's script did not run (an untrusted notebook?)"
            labels = player.locator("tr.stemunet-source").all_inner_texts()
            assert len(labels) == 4 and "mixture" in labels[0] and "reference vocals" in labels[1]  # and two estimates
            assert player.locator(".stemunet-time").inner_text() == "0:00.0 / 0:06.0"  # its length, before it plays
            assert player.locator("audio:visible").count() == 0  # one transport, not four
            root = player.element_handle()
            player.locator("button.stemunet-play").click()
            before = wait_for_state(page, root, lambda s: s["playing"] and s["seconds"] > 0.5)
            assert before["contextState"] == "running" and audible(before) == [0]

            page.keyboard.press("2")  # the click left the focus on the player
            page.wait_for_timeout(200)
            after = page.evaluate(PLAYER_STATE, root)
            assert after["active"] == 1 and after["playing"] and audible(after) == [1]
            elapsed = (after["now"] - before["now"]) / 1000
            assert abs(after["seconds"] - before["seconds"] - elapsed) < 0.05, (before, after)  # no restart, no jump
            assert after["playhead"] > before["playhead"]  # the playhead moves over the waveform

            page.keyboard.press("ArrowDown")
            page.wait_for_timeout(100)
            state = page.evaluate(PLAYER_STATE, root)
            assert state["active"] == 2 and audible(state) == [2]
            page.keyboard.press("ArrowLeft")
            seeked = page.evaluate(PLAYER_STATE, root)
            assert seeked["playing"] and -1.1 < seeked["seconds"] - state["seconds"] < -0.8, (state, seeked)
            page.wait_for_timeout(100)
            assert audible(page.evaluate(PLAYER_STATE, root)) == [2]  # every source restarted there, the chosen one alone audible

            wave = player.locator(".stemunet-wave").bounding_box()
            page.mouse.click(wave["x"] + 0.75 * wave["width"], wave["y"] + wave["height"] / 2)
            clicked = page.evaluate(PLAYER_STATE, root)
            assert abs(clicked["seconds"] - 0.75 * 6.0) < 0.15, clicked
            page.keyboard.press(" ")
            paused = wait_for_state(page, root, lambda s: not s["playing"])
            assert paused["gains"] == [] and player.locator("button.stemunet-play").inner_text() == "play"
            page.screenshot(path=str(tmp_path / "listen-player-used.png"), full_page=True)

            assert page.locator(f"{VISIBLE} .jp-MarkdownCell").count() == markdown_cells, "a key reached JupyterLab"
            assert page.locator(".jp-mod-dirty").count() == 0, "the keys modified the notebook"
        finally:
            browser.close()


def open_file_browser(page) -> None:
    """The left side bar's file browser open, as a user has it beside a notebook."""
    if not page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar.jp-mod-left [data-id='filebrowser']").click()
    page.wait_for_selector("#filebrowser", state="visible")
    page.wait_for_timeout(500)


FIGURES = """(notebook) => Array.from(document.querySelectorAll(notebook + ' .jp-OutputArea-output img'))
    .filter(img => !img.closest('.stemunet-player'))
    .map(img => ({natural: img.naturalWidth, shown: Math.round(img.getBoundingClientRect().width)}))"""
"""Figures in outputs (not a player's pictures): their own width and the width they are shown at."""


def test_tables_and_figures_fit_a_1100_px_window_with_the_file_browser_open(executed_runs, jupyterlab, tmp_path):
    """No table wider than its cell or squeezed to a letter a line (the separate summary's outputs,
    the runs overview's MIX and IRM1, "4.95 ± 1.21" cells), no figure wider than a notebook at
    1100 px (the per-track SDR figure was 1439 px and shrunk unreadable)."""
    sync_api = playwright_api()
    base, token = jupyterlab
    notebooks = [next(executed_runs.glob(f"*_{name}")) / f"{name}.ipynb" for name in ("evaluate", "listen", "separate", "explore")]
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for notebook in notebooks:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                open_run_notebook(page, base, token, str(notebook.relative_to(executed_runs)), tmp_path / f"{notebook.stem}-1100.png")
                open_file_browser(page)
                page.screenshot(path=str(tmp_path / f"{notebook.stem}-1100-browser.png"), full_page=True)
                overflowing = page.evaluate(OVERFLOWING_TABLES, VISIBLE)
                assert overflowing == [], f"{notebook.name}: tables that do not fit at 1100 px: {overflowing}"
                figures = page.evaluate(FIGURES, VISIBLE)
                assert figures, f"{notebook.name}: no figure"
                assert [f for f in figures if f["natural"] > 1000] == [], f"{notebook.name}: figures wider than 1000 px"
                page.close()
        finally:
            browser.close()


def test_links_under_the_players_of_a_source_notebook_answer(executed_runs, jupyterlab, tmp_path):
    """listen.ipynb run in place in a clone's notebooks/ (Run All in JupyterLab): its players link
    the excerpts written into its run folder under runs/, and each link answers 200."""
    sync_api = playwright_api()
    base, token = jupyterlab
    source = executed_runs / "project" / "notebooks" / "listen.ipynb"
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_run_notebook(page, base, token, str(source.relative_to(executed_runs)), tmp_path / "source-listen.png")
            links = page.evaluate(LOCAL_LINKS, VISIBLE)
            assert len(links) == 3, links  # mixture, reference, the estimate
            for link in links:
                path = urllib.parse.unquote(urllib.parse.urlparse(link).path)
                assert path.startswith("/files/project/runs/") and path.endswith(".wav"), link
                assert page.request.get(link).status == 200, link
        finally:
            browser.close()


def test_the_demo_run_notebooks_stay_under_2_mb(executed_runs):
    """README promises run notebooks under 2 MB: a research team keeps hundreds. The fixture runs the
    demo presets' notebooks with the demo's excerpts and players (on a smaller data set)."""
    sizes = {path.name: path.stat().st_size for path in executed_runs.glob("*_*/*.ipynb")}
    assert set(sizes) == {"evaluate.ipynb", "listen.ipynb", "separate.ipynb", "explore.ipynb"}
    assert {name: size for name, size in sizes.items() if size >= 2_000_000} == {}, sizes
