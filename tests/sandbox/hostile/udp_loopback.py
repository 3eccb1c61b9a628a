# ruff: noqa
# probe: UDP datagram to a socket the test bound on the host's 127.0.0.1
# expect: denied_syscall, runtime_error
# effect: udp_no_datagram
import socket

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"ESCAPED", ("127.0.0.1", P["udp_port"]))
print("ESCAPED: sent a UDP datagram")
