# ruff: noqa
# probe: list /proc and print every visible process's cmdline and environ (host processes must not be visible)
# expect: ok, denied_syscall, runtime_error
# effect: secret_absent, caller_cmdline_absent
import os

for name in os.listdir("/proc"):
    if name.isdigit():
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{name}/{what}", "rb") as f:
                    print(name, what, f.read().decode(errors="replace"))
            except OSError:
                pass
