# ruff: noqa
# probe: write to stderr (raw fd 2, unbuffered) without end
# expect: output_limit
# effect: output_capped, wall_capped
# limits: wall_time_s=5 output_kib=64
import os

chunk = b"y" * 65536
while True:
    os.write(2, chunk)
