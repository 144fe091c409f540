"""The notebooks' support: what the five notebooks call in JupyterLab and under Papermill.

Run records (:mod:`~stemunet.lab.runs`: a notebook's dated run folder, its parameters and
provenance) and the runner behind ``python -m stemunet.run`` (:mod:`~stemunet.lab.runner`), the runs
overview and compared runs (:mod:`~stemunet.lab.overview`), listening widgets and the synced players
they show (:mod:`~stemunet.lab.widgets`, :mod:`~stemunet.lab.players`), tables drawn narrow
(:mod:`~stemunet.lab.tables`), shared figures
(:mod:`~stemunet.lab.plots`), and the data set survey of the explore notebook
(:mod:`~stemunet.lab.exploration`, :mod:`~stemunet.lab.track_analysis`).

May import: every other layer. Nothing outside the command modules imports from here.
"""
