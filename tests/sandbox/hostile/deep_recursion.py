# ruff: noqa
# probe: recursion limit raised to 10**8, then recursion through a C function (max) without end: overflows the C stack
# expect: signal, memory_limit, runtime_error
# effect: rss_capped, zygotes_alive
# limits: memory_mib=256 wall_time_s=10
import sys

sys.setrecursionlimit(10**8)


def down(n):
    return max([n], key=lambda x: down(x + 1))


down(0)
