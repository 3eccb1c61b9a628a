# ruff: noqa
# probe: raw syscalls with a history of kernel exploits: io_uring_setup, bpf, perf_event_open, userfaultfd, keyctl
# expect: denied_syscall, runtime_error
# effect: marker_absent
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)
attempts = {
    "io_uring_setup": (425, 8, buf),
    "bpf": (321, 0, buf, 128),
    "perf_event_open": (298, buf, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "keyctl": (250, 0, 0),
}
worked = []
for name, (nr, *args) in attempts.items():
    if libc.syscall(nr, *args) >= 0:
        worked.append(name)
if worked:
    print("ESCAPED: the kernel accepted", worked)
else:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
