# ruff: noqa
# probe: control (not an attack): the scratch dir (the working directory) is writable and readable
# expect: ok
# effect: no_new_files
# stdout: scratch ok 12
import os

with open("notes.txt", "w") as f:
    f.write("hello world!")
os.mkdir("sub")
os.rename("notes.txt", "sub/notes.txt")
with open("sub/notes.txt") as f:
    print("scratch ok", len(f.read()))
