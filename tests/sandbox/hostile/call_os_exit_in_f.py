# ruff: noqa
# probe: call mode: f calls os._exit(0) before the harness can report, hoping a clean exit reads as a pass
# expect: runtime_error
# effect: no_forged_calls
# call: f
# args: ["1", "2"]
import os


def f(x):
    os._exit(0)
