# ruff: noqa
# probe: read /etc/passwd (host accounts) and print it; only interpreter files should be readable
# expect: denied_syscall, runtime_error
# effect: passwd_absent
with open("/etc/passwd") as f:
    print(f.read())
