# ruff: noqa
# probe: write to stdout without end
# expect: output_limit
# effect: output_capped, wall_capped
# limits: wall_time_s=5 output_kib=64
import sys

chunk = "x" * 65536
while True:
    sys.stdout.write(chunk)
