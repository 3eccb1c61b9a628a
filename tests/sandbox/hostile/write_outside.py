# ruff: noqa
# probe: overwrite a sentinel file outside the scratch dir
# expect: denied_syscall, runtime_error
# effect: sentinel_unchanged
with open(P["sentinel"], "w") as f:
    f.write("ESCAPED: overwritten")
print("ESCAPED: wrote the sentinel")
