# ruff: noqa
# probe: change the hostname (the UTS namespace and the uid drop must keep it from the host)
# expect: denied_syscall, runtime_error
# effect: hostname_unchanged
import socket

socket.sethostname("escaped-" + P["abstract_name"][-8:])
print("ESCAPED: hostname changed to", socket.gethostname())
