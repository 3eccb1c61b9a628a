# ruff: noqa
# probe: call mode: the module calls os._exit(0) at import time, before f is ever called
# expect: runtime_error
# effect: no_forged_calls
# call: f
# args: ["1", "2"]
import os


def f(x):
    return x


os._exit(0)
