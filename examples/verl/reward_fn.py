"""verl custom reward function: ``reward.custom_reward_function.path=<this file>`` and
``reward.custom_reward_function.name=compute_score``.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` for each
response (in an executor thread); ``ground_truth`` is the label `stepstones export --format
verl` wrote. The returned dict's ``score`` is the reward; its other keys (one 0/1 per outcome)
are logged by verl as reward extra info.
"""

from stepstones.serve import compute_score

__all__ = ["compute_score"]
