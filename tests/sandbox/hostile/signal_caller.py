# ruff: noqa
# probe: send SIGUSR1 to the caller (the test process installed a handler that records it)
# expect: denied_syscall, runtime_error
# effect: caller_not_signalled
import os
import signal

os.kill(P["caller_pid"], signal.SIGUSR1)
print("ESCAPED: signalling the caller returned success")
