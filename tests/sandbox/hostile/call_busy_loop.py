# ruff: noqa
# probe: call mode: the first call spins forever; the job ends as a timeout and later calls are marked not run
# expect: timeout
# effect: wall_capped, later_calls_not_run
# call: f
# args: ["0", "1"]
# limits: wall_time_s=1.5 call_cpu_time_s=0.5 cpu_time_s=1


def f(n):
    while n == 0:
        pass
    return n
