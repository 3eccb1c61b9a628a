# ruff: noqa
# probe: a test script forges the harness's "finished normally" record on the result channel (fd 3), then exits 0 before its asserts run
# expect: runtime_error
# effect: marker_absent
import os


def frame(tag, *fields):
    body = tag + b"\0".join(f.encode() for f in fields)
    return len(body).to_bytes(4, "little") + body


for fd in range(3, 64):
    try:
        os.write(fd, frame(b"D", "0"))
    except OSError:
        pass
os._exit(0)
assert False, "the checks below never ran"
