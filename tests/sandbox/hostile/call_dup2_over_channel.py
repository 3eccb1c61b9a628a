# ruff: noqa
# probe: call mode: at import the module tries to put a scratch file at the result channel's fd (close(3), dup2 and dup3 onto 3), so the harness would sign its frames into a file the job can read
# expect: runtime_error
# effect: no_forged_calls
# call: check
# args: [""]
import os


def check():
    assert False, "the real checker fails"


scratch = os.open("scratch.bin", os.O_RDWR | os.O_CREAT, 0o600)
for attempt in (
    lambda: os.dup2(scratch, 3),
    lambda: os.dup2(scratch, 3, inheritable=False),
    lambda: os.close(3),
):
    try:
        attempt()
        print("ESCAPED: fd 3 was replaced or closed")
    except OSError:
        pass
raise SystemExit("fd 3 stayed the channel")
