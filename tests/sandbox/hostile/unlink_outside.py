# ruff: noqa
# probe: unlink a sentinel file outside the scratch dir
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

os.unlink(P["sentinel"])
print("ESCAPED: unlinked the sentinel")
