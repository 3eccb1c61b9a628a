# ruff: noqa
# probe: SIGKILL an unrelated host process (a `sleep` the test started), by its host pid
# expect: denied_syscall, runtime_error
# effect: victim_alive
import os
import signal

os.kill(P["victim_pid"], signal.SIGKILL)
print("ESCAPED: kill of an unrelated process returned success")
