# ruff: noqa
# probe: unshare(CLONE_NEWUSER | CLONE_NEWNS) through ctypes, for full capabilities inside a fresh user namespace
# expect: denied_syscall, runtime_error
# effect: marker_absent
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x00020000) != 0:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
print("ESCAPED: unshare succeeded")
