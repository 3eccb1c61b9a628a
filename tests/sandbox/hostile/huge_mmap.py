# ruff: noqa
# probe: map 64 GiB of anonymous memory (address-space limit 256 MiB), then touch it
# expect: memory_limit, runtime_error
# effect: rss_capped
# limits: memory_mib=256
import mmap

m = mmap.mmap(-1, 64 << 30)
for i in range(0, len(m), 1 << 20):
    m[i] = 1
print("ESCAPED: mapped and touched 64 GiB")
