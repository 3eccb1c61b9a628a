# ruff: noqa
# probe: SIGKILL the parent zygote, by getppid() and by its host pid
# expect: denied_syscall, runtime_error
# effect: zygotes_alive
import os
import signal

errors = []
for pid in [os.getppid(), *P["zygote_pids"]]:
    try:
        os.kill(pid, signal.SIGKILL)
        print("kill returned success for pid", pid)
    except OSError as exc:
        errors.append(exc)
if len(errors) == 1 + len(P["zygote_pids"]):
    raise errors[0]
