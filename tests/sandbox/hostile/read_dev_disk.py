# ruff: noqa
# probe: read raw block devices and kernel memory/log devices (/dev/vda, /dev/sda, /dev/mem, /dev/kmsg)
# expect: denied_syscall, runtime_error
# effect: marker_absent
read = []
for path in (
    "/dev/vda",
    "/dev/sda",
    "/dev/nvme0n1",
    "/dev/mem",
    "/dev/kmem",
    "/dev/kmsg",
    "/dev/port",
):
    try:
        with open(path, "rb") as f:
            read.append((path, f.read(64)))
    except OSError as exc:
        last = exc
if not read:
    raise last
print("ESCAPED: read", read)
