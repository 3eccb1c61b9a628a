# ruff: noqa
# probe: os.system (libc system(): fork + exec /bin/sh); the shell would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent, no_lingering_processes
import os

status = os.system("echo ESCAPED: os.system ran")
if status != 0:
    # system() reports a failed fork as -1 instead of raising: make the failure visible.
    raise PermissionError(f"os.system returned {status}")
