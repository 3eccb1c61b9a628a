# ruff: noqa
# probe: arm interval timers and an alarm (timer signals could interrupt the harness); would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent
import signal

signal.signal(signal.SIGALRM, lambda *_: print("ESCAPED: SIGALRM delivered", flush=True))
signal.setitimer(signal.ITIMER_REAL, 0.05)
signal.alarm(1)
print("ESCAPED: timers armed", flush=True)
signal.pause()
