# ruff: noqa
# probe: fork, setsid in the child, fork a grandchild that outlives the job (double-fork daemon)
# expect: denied_syscall, runtime_error
# effect: no_lingering_processes
# limits: wall_time_s=3
import os
import time

# The job waits until the grandchild runs, so the job cannot end (and have its group killed)
# before the daemon exists: an escape leaves a process behind every time, not only sometimes.
ready_r, ready_w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(ready_w, b"x")
        time.sleep(30)
    os._exit(0)
os.read(ready_r, 1)
print("ESCAPED: a detached grandchild was started")
