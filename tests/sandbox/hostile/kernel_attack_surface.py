# ruff: noqa
# probe: raw syscalls with a history of kernel exploits: io_uring_setup, bpf, perf_event_open, userfaultfd, keyctl
# expect: denied_syscall, runtime_error
# effect: marker_absent
# arch: x86_64 aarch64
import ctypes
import os
import platform

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)
# Syscall numbers per architecture (the newer ones, from 424 on, are the same everywhere).
NR = {
    "x86_64": {
        "io_uring_setup": 425,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
        "keyctl": 250,
    },
    "aarch64": {
        "io_uring_setup": 425,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
        "keyctl": 219,
    },
}[platform.machine()]
attempts = {
    "io_uring_setup": (NR["io_uring_setup"], 8, buf),
    "bpf": (NR["bpf"], 0, buf, 128),
    "perf_event_open": (NR["perf_event_open"], buf, 0, -1, -1, 0),
    "userfaultfd": (NR["userfaultfd"], 0),
    "keyctl": (NR["keyctl"], 0, 0),
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
