# ruff: noqa
# probe: print the child's own environment (os.environ and /proc/self/environ): the caller's secret must not be there
# expect: ok, denied_syscall, runtime_error
# effect: secret_absent
import os

print(dict(os.environ))
if P["secret_name"] in os.environ:
    print("ESCAPED: the caller's secret variable is visible")
with open("/proc/self/environ", "rb") as f:
    print(f.read().decode(errors="replace"))
