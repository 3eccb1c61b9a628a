# ruff: noqa
# probe: raise every rlimit to infinity, then allocate and touch 1 GiB under a 128 MiB limit
# expect: memory_limit
# effect: rss_capped
# limits: memory_mib=128
import resource

for name in (
    "RLIMIT_AS",
    "RLIMIT_DATA",
    "RLIMIT_CPU",
    "RLIMIT_NOFILE",
    "RLIMIT_FSIZE",
    "RLIMIT_NPROC",
):
    try:
        resource.setrlimit(
            getattr(resource, name), (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        print("raised", name)
    except (OSError, ValueError) as exc:
        print("could not raise", name, exc)
block = bytearray(1 << 30)
for i in range(0, len(block), 4096):
    block[i] = 1
print("ESCAPED: touched 1 GiB")
