# ruff: noqa
# probe: make a directory outside the scratch dir
# expect: denied_syscall, runtime_error
# effect: no_new_files
import os

os.mkdir(P["sentinel_dir"] + "/dir_by_probe")
print("ESCAPED: made a directory outside scratch")
