# ruff: noqa
# probe: chdir to the sentinel's directory (outside scratch), then write relative paths there
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged, no_new_files
import os

os.chdir(P["sentinel_dir"])
with open("created_after_chdir", "w") as f:
    f.write("ESCAPED")
with open(os.path.basename(P["sentinel"]), "w") as f:
    f.write("ESCAPED: overwritten after chdir")
print("ESCAPED: wrote outside scratch after chdir")
