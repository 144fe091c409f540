"""JupyterLab may not save over an executed run notebook, root included (issue: Notebooks III, item 1)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError

from stemunet.lab.records import is_run_record

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "jupyter-config" / "jupyter_server_config.d" / "stemunet.json"
RUN = "runs/2026-01-01T00-00-00_explore"


@pytest.fixture
def manager(tmp_path) -> AsyncLargeFileManager:
    """JupyterLab's own contents manager, configured as the environment configures it."""
    run = tmp_path / RUN
    run.mkdir(parents=True)
    (run / "parameters.yaml").write_text("notebook: explore\n")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), run / "explore.ipynb")
    (run / "explore.ipynb").chmod(0o444)  # as the runner leaves it; root ignores the bit
    (tmp_path / "notebooks").mkdir()
    return AsyncLargeFileManager(root_dir=str(tmp_path))


@pytest.fixture
def server(manager):
    """A server as jupyter_server loads the extensions the project's configuration enables."""
    enabled = json.loads(SETTINGS.read_text())["ServerApp"]["jpserver_extensions"]
    serverapp = SimpleNamespace(contents_manager=manager)
    for module, on in enabled.items():
        if on:
            for point in importlib.import_module(module)._jupyter_server_extension_points():
                importlib.import_module(point["module"])._load_jupyter_server_extension(serverapp)
    return serverapp


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # JupyterLab's server runs on asyncio


@pytest.mark.anyio
async def test_saving_over_a_run_record_is_refused_with_the_way_out(server, manager, tmp_path):
    record = tmp_path / RUN / "explore.ipynb"
    before = record.read_bytes()
    model = await manager.get(f"{RUN}/explore.ipynb")
    model["content"]["cells"][0]["outputs"] = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    with pytest.raises(HTTPError) as refused:
        await manager.save(model, f"{RUN}/explore.ipynb")
    assert refused.value.status_code == 403 and "Save Notebook As" in refused.value.log_message
    assert record.read_bytes() == before
    # Save As (another name, even in the run folder) and any other notebook save as usual.
    await manager.save(model, f"{RUN}/explore-mine.ipynb")
    await manager.save(model, "notebooks/explore.ipynb")
    assert (tmp_path / RUN / "explore-mine.ipynb").is_file() and (tmp_path / "notebooks" / "explore.ipynb").is_file()


def test_only_the_executed_notebook_beside_its_parameters_is_a_record(tmp_path):
    run = tmp_path / "2026-01-01T00-00-00_train"
    run.mkdir()
    (run / "train.ipynb").touch()
    assert not is_run_record(run / "train.ipynb")  # no parameters.yaml: not a run folder
    (run / "parameters.yaml").touch()
    assert is_run_record(run / "train.ipynb")
    assert not is_run_record(run / "copy.ipynb") and not is_run_record(tmp_path / "train.ipynb")


def test_set_up_environments_carry_the_setting():
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "stemunet.json"
    assert installed.is_file(), "scripts/setup.sh installs jupyter-config/ into the environment"
    assert json.loads(installed.read_text()) == json.loads(SETTINGS.read_text())


def test_a_jupyter_server_started_with_the_projects_configuration_registers_the_hook(tmp_path, monkeypatch):
    """jupyter_server reads only ``jpserver_extensions`` from ``jupyter_server_config.d``: the hook must
    come in as an extension (a ``pre_save_hook`` setting there was silently ignored)."""
    from jupyter_server.serverapp import ServerApp

    from stemunet.lab.records import refuse_saving_records

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(ROOT / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user-config"))  # no user settings in the way
    app = ServerApp()
    app.initialize(argv=[f"--ServerApp.root_dir={tmp_path}", "--no-browser", "--port=0"])
    assert refuse_saving_records in app.contents_manager._pre_save_hooks
