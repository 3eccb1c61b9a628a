# ruff: noqa
# probe: control (not an attack): call mode returns each call's value, and a raising call does not stop the next
# expect: ok
# effect: marker_absent
# call: f
# args: ["2", "'ab'", "None", "[1, 2], k=3"]
# values: ["4", "'abab'", null, "[1, 2, 1, 2, 1, 2]"]


def f(x, k=2):
    return x * k
