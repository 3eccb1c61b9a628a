# ruff: noqa
# probe: os.posix_spawn of /bin/echo (clone(CLONE_VM|CLONE_VFORK) + exec); would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent, no_lingering_processes
import os

pid = os.posix_spawn("/bin/echo", ["echo", "ESCAPED: posix_spawn ran"], {})
os.waitpid(pid, 0)
