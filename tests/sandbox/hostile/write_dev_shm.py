# ruff: noqa
# probe: create a file in /dev/shm (shared memory visible to every process on the host)
# expect: denied_syscall, runtime_error
# effect: no_new_files
with open(P["shm_target"], "x") as f:
    f.write("ESCAPED")
print("ESCAPED: wrote to the host's /dev/shm")
