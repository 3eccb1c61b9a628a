# ruff: noqa
# probe: make a symlink in the scratch dir pointing at the sentinel, then write through it
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

os.symlink(P["sentinel"], "link_to_sentinel")
with open("link_to_sentinel", "w") as f:
    f.write("ESCAPED: written through a symlink")
print("ESCAPED: wrote the sentinel through a symlink")
