# ruff: noqa
# probe: append to a sentinel file outside the scratch dir (O_APPEND, no truncation)
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

fd = os.open(P["sentinel"], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"ESCAPED: appended")
print("ESCAPED: appended to the sentinel")
