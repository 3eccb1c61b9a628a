# ruff: noqa
# probe: read /etc/shadow (password hashes) and print it
# expect: denied_syscall, runtime_error
# effect: shadow_absent
with open("/etc/shadow") as f:
    print(f.read())
