# ruff: noqa
# probe: os.execve of the interpreter itself (always readable to the child), which would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent
import os
import sys

os.execve(sys.executable, [sys.executable, "-c", "print('ESCAPED: execve ran')"], {})
