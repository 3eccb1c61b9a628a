# ruff: noqa
# probe: TCP connect to a listener the test opened on the host's 127.0.0.1
# expect: denied_syscall, runtime_error
# effect: tcp_no_connection
import socket

s = socket.create_connection(("127.0.0.1", P["tcp_port"]), timeout=2)
s.sendall(b"ESCAPED")
print("ESCAPED: connected over TCP to the host loopback")
