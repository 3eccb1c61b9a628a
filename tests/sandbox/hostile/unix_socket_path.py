# ruff: noqa
# probe: AF_UNIX connect to a listening socket file the test created outside the scratch dir
# expect: denied_syscall, runtime_error
# effect: unix_no_connection
import socket

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(P["unix_path"])
s.sendall(b"ESCAPED")
print("ESCAPED: connected to a host unix socket")
