# ruff: noqa
# probe: read the caller's own files (this test's source, the repo's pyproject.toml) and root's home
# expect: denied_syscall, runtime_error
# effect: caller_files_absent
read = 0
for path in (P["caller_file"], P["repo_file"], "/root/.bash_history", "/root/.ssh/id_rsa"):
    try:
        with open(path) as f:
            print(path, f.read())
        read += 1
    except OSError as exc:
        last = exc
if not read:
    raise last
