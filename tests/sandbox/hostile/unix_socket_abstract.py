# ruff: noqa
# probe: AF_UNIX connect to an abstract-namespace socket the test listens on (abstract names live in the network namespace)
# expect: denied_syscall, runtime_error
# effect: unix_no_connection
import socket

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + P["abstract_name"])
s.sendall(b"ESCAPED")
print("ESCAPED: connected to a host abstract unix socket")
