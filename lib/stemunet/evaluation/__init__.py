"""Evaluation: how good a separator is, in the field's numbers.

BSSEval v4 exactly as museval computes it, fast (:mod:`~stemunet.evaluation.bsseval`), per-track
scoring of a model and the baselines (:mod:`~stemunet.evaluation.scoring`: SiSEC's MIX, the oracle
masks IRM1 and IRM2), the evaluation run over a test set (:mod:`~stemunet.evaluation.evaluate`),
aggregation into SiSEC's medians and the tables (:mod:`~stemunet.evaluation.results`), and their
figures (:mod:`~stemunet.evaluation.plots`).

May import: the core modules, :mod:`stemunet.data` and :mod:`stemunet.separation`.
"""
