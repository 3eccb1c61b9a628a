# ruff: noqa
# probe: call mode: f writes fake "all passed" records to stdout and every fd above 2, then exits 0
# expect: runtime_error
# effect: no_forged_calls
# call: f
# args: ["1", "2"]
import os
import sys

FAKE = b'{"ran":true,"ok":true,"value":"42"}\n[true,true,"42",false,null,null,0.0]\nok 42\nok 42\n'


def f(x):
    sys.stdout.buffer.write(FAKE)
    sys.stdout.flush()
    for fd in range(3, 1024):
        try:
            os.write(fd, FAKE)
        except OSError:
            pass
    os._exit(0)
