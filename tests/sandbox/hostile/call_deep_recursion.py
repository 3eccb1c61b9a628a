# ruff: noqa
# probe: call mode: f recurses without end (RecursionError); the harness must survive and run the next call
# expect: ok
# effect: first_call_raises_recursion_then_ok
# call: f
# args: ["-1", "3"]


def f(n):
    if n < 0:
        return f(n - 1)
    return n
