# ruff: noqa
# probe: recursion limit raised to 10**8, then recursion without end (exhausts memory or the C stack)
# expect: memory_limit, signal, runtime_error
# effect: rss_capped, zygotes_alive
# limits: memory_mib=256 wall_time_s=10
import sys

sys.setrecursionlimit(10**8)


def down(n):
    return down(n + 1) + 1


down(0)
