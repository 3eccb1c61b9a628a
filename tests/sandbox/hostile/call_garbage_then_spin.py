# ruff: noqa
# probe: call mode: five bytes of garbage on the result channel (fd 3) at import, then a call that spins: the per-call CPU budget must still end it (the supervisor keeps finding the genuine frames after the garbage)
# expect: timeout
# effect: call_budget_held
# call: f
# args: ["1"]
# limits: call_cpu_time_s=0.3 cpu_time_s=30 wall_time_s=60
import os

os.write(3, b"\x01\x00\x00\x00X")


def f(x):
    while True:
        pass
