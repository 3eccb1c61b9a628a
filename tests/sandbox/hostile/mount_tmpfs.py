# ruff: noqa
# probe: mount a tmpfs over the scratch dir through ctypes (mount(2))
# expect: denied_syscall, runtime_error
# effect: marker_absent
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"none", os.getcwd().encode(), b"tmpfs", 0, None) != 0:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))
print("ESCAPED: mounted a tmpfs")
