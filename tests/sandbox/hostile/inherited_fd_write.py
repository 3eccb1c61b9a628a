# ruff: noqa
# probe: write to every fd above 2: the test left a host file open and inheritable before starting the sandbox
# expect: ok, runtime_error
# effect: fd_file_unchanged
import os

wrote = []
for fd in range(3, 1024):
    try:
        os.write(fd, b"ESCAPED via an inherited fd\n")
        wrote.append(fd)
    except OSError:
        pass
print("wrote to fds", wrote)
