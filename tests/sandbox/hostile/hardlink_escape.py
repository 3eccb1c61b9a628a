# ruff: noqa
# probe: hard-link the sentinel into the scratch dir, then write through the link
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
import os

os.link(P["sentinel"], "hardlink_to_sentinel")
with open("hardlink_to_sentinel", "w") as f:
    f.write("ESCAPED: written through a hard link")
print("ESCAPED: wrote the sentinel through a hard link")
