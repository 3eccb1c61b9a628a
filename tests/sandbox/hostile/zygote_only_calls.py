# ruff: noqa
# probe: the calls only the zygote keeps (fork, wait4, waitid, pidfd_open, kill, memfd_create, close_range, setpgid, prctl, setres[ug]id, capset, landlock_restrict_self, seccomp): the job's last recipe step revokes each
# expect: denied_syscall
# effect: marker_absent
# arch: x86_64 aarch64
import ctypes
import errno
import os
import platform

# Syscall numbers per architecture (close_range and landlock_restrict_self are the same on both).
NR = {
    "x86_64": {
        "close_range": 436,
        "prctl": 157,
        "capset": 126,
        "landlock_restrict_self": 446,
        "seccomp": 317,
    },
    "aarch64": {
        "close_range": 436,
        "prctl": 167,
        "capset": 91,
        "landlock_restrict_self": 446,
        "seccomp": 277,
    },
}[platform.machine()]

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def raw(nr, *args):
    ctypes.set_errno(0)
    if libc.syscall(nr, *args) >= 0:
        return 0
    return ctypes.get_errno()


def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


cap_header = (ctypes.c_uint32 * 2)(0x20080522, 0)
cap_data = (ctypes.c_uint32 * 6)()
action = ctypes.c_uint32(0x7FFF0000)  # SECCOMP_RET_ALLOW
attempts = {
    "fork": fork,
    "wait4": lambda: os.wait4(-1, os.WNOHANG),
    "waitid": lambda: os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG),
    "pidfd_open": lambda: os.close(os.pidfd_open(os.getpid())),
    "kill": lambda: os.kill(os.getpid(), 0),
    "memfd_create": lambda: os.close(os.memfd_create("x")),
    "close_range": lambda: raw(NR["close_range"], 1000, 1001, 0),
    "setpgid": lambda: os.setpgid(0, 0),
    "prctl": lambda: raw(NR["prctl"], 3, 0, 0, 0, 0),  # PR_GET_DUMPABLE
    "setresuid": lambda: os.setresuid(-1, -1, -1),
    "setresgid": lambda: os.setresgid(-1, -1, -1),
    "capset": lambda: raw(
        NR["capset"], cap_header, cap_data
    ),  # set the (empty) sets it already has
    "landlock_restrict_self": lambda: raw(NR["landlock_restrict_self"], -1, 0),
    "seccomp": lambda: raw(NR["seccomp"], 2, 0, ctypes.byref(action)),  # SECCOMP_GET_ACTION_AVAIL
}
reached = []
for name, attempt in attempts.items():
    try:
        err = attempt() or 0
    except OSError as exc:
        err = exc.errno
    if err != errno.EPERM:  # it got past seccomp to the kernel (succeeded or failed there)
        reached.append(name)
if reached:
    print("ESCAPED: these reached the kernel:", reached)
else:
    raise PermissionError(errno.EPERM, "every zygote-only call was refused")
