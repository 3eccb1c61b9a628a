# ruff: noqa
# probe: rename a sentinel file outside the scratch dir (in place, and into the scratch dir)
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged, no_new_files
import os

try:
    os.rename(P["sentinel"], P["sentinel"] + ".moved")
finally:
    os.rename(P["sentinel"], "stolen_sentinel")
print("ESCAPED: renamed the sentinel")
