# ruff: noqa
# probe: allocate and touch memory until something gives (limit 256 MiB)
# expect: memory_limit
# effect: rss_capped
# limits: memory_mib=256
blocks = []
while True:
    block = bytearray(16 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    blocks.append(block)
