# ruff: noqa
# probe: second job on the same zygote: print everything the first one may have left behind
# expect: ok
import builtins
import json
import os

for top in (".", "..", "/tmp", "/dev/shm"):
    try:
        names = os.listdir(top)
    except OSError:
        continue
    print(top, names)
    for name in names:
        try:
            with open(os.path.join(top, name), errors="replace") as f:
                print(name, f.read(200))
        except (OSError, ValueError):
            pass
print(os.environ.get("PLANTED"), getattr(builtins, "planted", None), getattr(json, "planted", None))
