# ruff: noqa
# probe: chmod (and chown) a sentinel file outside the scratch dir
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

try:
    os.chmod(P["sentinel"], 0o777)
finally:
    os.chown(P["sentinel"], 12345, 12345)
print("ESCAPED: changed the sentinel's mode and owner")
