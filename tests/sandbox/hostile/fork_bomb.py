# ruff: noqa
# probe: fork bomb (bounded to 32 children so a broken sandbox cannot take the host down)
# expect: denied_syscall, runtime_error
# effect: no_lingering_processes
# limits: wall_time_s=3
import os
import time

for _ in range(32):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
print("ESCAPED: fork worked")
