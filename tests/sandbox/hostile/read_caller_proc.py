# ruff: noqa
# probe: read the caller's (the trainer's) /proc/<pid>/environ, cmdline and the zygotes' host pids' environ
# expect: denied_syscall, runtime_error
# effect: secret_absent, caller_cmdline_absent
paths = [f"/proc/{P['caller_pid']}/environ", f"/proc/{P['caller_pid']}/cmdline"]
paths += [f"/proc/{pid}/environ" for pid in P["zygote_pids"]]
read = 0
for path in paths:
    try:
        with open(path, "rb") as f:
            print(path, f.read().decode(errors="replace"))
        read += 1
    except OSError as exc:
        last = exc
if not read:
    raise last
print("ESCAPED: read", read, "files of host processes")
