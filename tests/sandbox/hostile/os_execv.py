# ruff: noqa
# probe: os.execv replaces the child with /bin/echo, which would print a marker and exit 0
# expect: denied_syscall, runtime_error
# effect: marker_absent
import os

os.execv("/bin/echo", ["echo", "ESCAPED: execv ran"])
