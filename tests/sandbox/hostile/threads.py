# ruff: noqa
# probe: start a thread (clone with CLONE_THREAD); it would print a marker
# expect: denied_syscall, runtime_error
# effect: marker_absent
import threading

t = threading.Thread(target=lambda: print("ESCAPED: a thread ran", flush=True))
t.start()
t.join()
