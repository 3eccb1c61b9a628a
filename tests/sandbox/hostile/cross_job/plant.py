# ruff: noqa
# probe: first of two jobs on the same zygote: leave a token everywhere a later job might look
# (its scratch dir, /tmp and /dev/shm inside the sandbox, the environment, builtins, a stdlib module)
# expect: ok
import builtins
import json
import os

token = P["token"]
planted = []
for path in ("planted.txt", "/tmp/planted.txt", "/dev/shm/planted.txt", "../planted.txt"):
    try:
        with open(path, "w") as f:
            f.write(token)
        planted.append(path)
    except OSError:
        pass
os.environ["PLANTED"] = token
builtins.planted = token
json.planted = token
print("planted in", planted)
