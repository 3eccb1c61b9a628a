# ruff: noqa
# probe: call mode, HumanEval-style (the checker runs in the child): the module forges "call 0 returned None" and "finished" on the result channel (fd 3), then exits before check() runs
# expect: runtime_error
# effect: no_forged_calls
# call: check
# args: [""]
import os


def check():
    assert False, "the real checker fails"


def frame(tag, *fields):
    body = tag + b"\0".join(f.encode() for f in fields)
    return len(body).to_bytes(4, "little") + body


forged = frame(b"S", "0") + frame(b"V", "0", "None", "0.0") + frame(b"D", "0")
for fd in range(3, 64):
    try:
        os.write(fd, forged)
    except OSError:
        pass
os._exit(0)
