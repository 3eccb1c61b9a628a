# ruff: noqa
# probe: create new files outside the scratch dir: next to the sentinel and directly in /tmp
# expect: denied_syscall, runtime_error
# effect: no_new_files
with open(P["tmp_target"], "x") as f:
    f.write("ESCAPED")
with open(P["sentinel_dir"] + "/created_by_probe", "x") as f:
    f.write("ESCAPED")
print("ESCAPED: created files outside scratch")
