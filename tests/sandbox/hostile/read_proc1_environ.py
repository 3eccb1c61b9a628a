# ruff: noqa
# probe: read /proc/1/environ and /proc/1/cmdline (the host's init, or the namespace's init) and print them
# expect: ok, denied_syscall, runtime_error
# effect: secret_absent, caller_cmdline_absent
read = 0
for name in ("environ", "cmdline"):
    try:
        with open(f"/proc/1/{name}", "rb") as f:
            print(name, f.read().decode(errors="replace"))
        read += 1
    except OSError as exc:
        last = exc
if not read:
    raise last
