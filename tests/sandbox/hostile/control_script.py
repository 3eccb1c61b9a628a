# ruff: noqa
# probe: control (not an attack): ordinary work must still run, or every probe would "pass" by failing
# expect: ok
# effect: marker_absent
# stdout: control ok 5050 ['a', 'b'] 3
import collections, functools, heapq, itertools, json, math, re, statistics, string

total = sum(range(101))
words = sorted(collections.Counter("abab"))
print("control ok", total, words, statistics.mean([2, 3, 4]))
