# ruff: noqa
# probe: read the parent's (the zygote's) /proc/<ppid>/environ and cmdline and print them
# expect: ok, denied_syscall, runtime_error
# effect: secret_absent, caller_cmdline_absent
import os

read = 0
for name in ("environ", "cmdline"):
    try:
        with open(f"/proc/{os.getppid()}/{name}", "rb") as f:
            print(name, f.read().decode(errors="replace"))
        read += 1
    except OSError as exc:
        last = exc
if not read:
    raise last
