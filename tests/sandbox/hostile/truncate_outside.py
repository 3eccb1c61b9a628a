# ruff: noqa
# probe: truncate a sentinel file outside the scratch dir by path (truncate(2), no open)
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

os.truncate(P["sentinel"], 0)
print("ESCAPED: truncated the sentinel")
