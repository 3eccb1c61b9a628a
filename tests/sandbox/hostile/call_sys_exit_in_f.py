# ruff: noqa
# probe: call mode: f raises SystemExit(0) (sys.exit) hoping the harness exits cleanly with no failures
# expect: ok, runtime_error
# effect: no_forged_calls
# call: f
# args: ["1", "2"]
import sys


def f(x):
    sys.exit(0)
