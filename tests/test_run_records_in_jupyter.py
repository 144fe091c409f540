"""JupyterLab may not save over an executed run notebook, root included (issue: Notebooks III, item 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError
from traitlets.config import Config

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
    return AsyncLargeFileManager(root_dir=str(tmp_path), config=Config(json.loads(SETTINGS.read_text())))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # JupyterLab's server runs on asyncio


@pytest.mark.anyio
async def test_saving_over_a_run_record_is_refused_with_the_way_out(manager, tmp_path):
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
