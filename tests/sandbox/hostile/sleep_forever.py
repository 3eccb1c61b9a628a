# ruff: noqa
# probe: sleep far past the wall-clock limit (uses no CPU, so only the wall deadline can end it)
# expect: timeout
# effect: wall_capped, no_lingering_processes
# limits: wall_time_s=1
import time

time.sleep(600)
