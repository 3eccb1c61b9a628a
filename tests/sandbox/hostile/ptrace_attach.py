# ruff: noqa
# probe: PTRACE_ATTACH to the zygote (getppid() and host pids); on success hold it for 1.5 s
# expect: denied_syscall, runtime_error
# effect: untraced, zygotes_alive
import ctypes
import os
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_ATTACH = 16
attached = []
err = 0
for pid in [os.getppid(), *P["zygote_pids"]]:
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        attached.append(pid)
    else:
        err = ctypes.get_errno()
if not attached:
    raise OSError(err, os.strerror(err))
print("ESCAPED: ptrace attached to", attached, flush=True)
time.sleep(1.5)
