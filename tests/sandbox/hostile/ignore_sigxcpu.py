# ruff: noqa
# probe: ignore SIGXCPU (the soft CPU-limit signal) and spin, hoping to outlive the CPU limit
# expect: timeout
# effect: wall_capped, no_lingering_processes
# limits: wall_time_s=5 cpu_time_s=1
import signal

signal.signal(signal.SIGXCPU, signal.SIG_IGN)
while True:
    pass
