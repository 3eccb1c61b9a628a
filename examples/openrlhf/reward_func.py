"""In-process rewards for OpenRLHF: pass this file's path as ``--reward.remote_url``.

OpenRLHF 0.11.x loads ``reward_func(queries, prompts, labels, **kwargs)`` from a ``.py`` path
and calls it in a worker thread for every rollout. stepstones grades in its own sandbox zygotes
(never forking the trainer's process) and returns ``{"rewards", "scores", "extra_logs"}``,
exactly like ``stepstones serve``. Use the HTTP server instead when the vLLM engine actors
should not hold sandbox processes.
"""

from stepstones.serve import reward_func

__all__ = ["reward_func"]
