# ruff: noqa
# probe: subprocess.run of /bin/echo (vfork/clone + execve); the echo would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent, no_lingering_processes
import subprocess

subprocess.run(["/bin/echo", "ESCAPED: subprocess ran"], check=True)
