# ruff: noqa
# probe: dereference NULL through ctypes (SIGSEGV in the child); the zygote must not care
# expect: signal
# effect: sigsegv, zygotes_alive
import ctypes

ctypes.string_at(0)
