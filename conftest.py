"""Run order for the whole suite: unit tests first, then the notebooks in pipeline order.

nbval collects notebooks alphabetically; evaluate, separate and listen need the training run
that train.ipynb makes (in the session's STEMUNET_RUNS folder), so notebooks run in the order a
user would: explore, train, evaluate, separate, listen.
"""

from pathlib import Path

NOTEBOOK_ORDER = ["explore", "train", "evaluate", "separate", "listen"]


def pytest_collection_modifyitems(session, config, items):
    def key(indexed):
        index, item = indexed
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            return (0, 0, index)
        rank = NOTEBOOK_ORDER.index(path.stem) if path.stem in NOTEBOOK_ORDER else len(NOTEBOOK_ORDER)
        return (1, rank, index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
