# ruff: noqa
# probe: ignore every catchable signal, then sleep past the wall deadline (only SIGKILL can end it)
# expect: timeout
# effect: wall_capped, no_lingering_processes
# limits: wall_time_s=1
import signal
import time

for sig in signal.valid_signals():
    try:
        signal.signal(sig, signal.SIG_IGN)
    except (OSError, ValueError, RuntimeError):
        pass
time.sleep(600)
