# ruff: noqa
# probe: fork, setsid in the child, fork a grandchild that outlives the job (double-fork daemon)
# expect: denied_syscall, runtime_error
# effect: no_lingering_processes
# limits: wall_time_s=3
import os
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(30)
    os._exit(0)
print("ESCAPED: a detached grandchild was started")
