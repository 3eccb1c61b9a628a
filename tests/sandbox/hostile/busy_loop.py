# ruff: noqa
# probe: spin on the CPU forever
# expect: timeout
# effect: wall_capped, no_lingering_processes
# limits: wall_time_s=1 cpu_time_s=1
while True:
    pass
