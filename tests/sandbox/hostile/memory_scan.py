# ruff: noqa
# probe: reads every byte of its own address space (mappings found without /proc: dl_iterate_phdr, sbrk, mincore, mmap hints) for markers that earlier jobs on the same zygote left in their source, stdin, arguments, outputs and values
# expect: ok
# effect: marker_absent
#
# P["needles"] maps a kind to the hex of its marker with every byte rotated by one, so the
# probe never holds a marker itself: it rotates what it reads the same way and searches for
# the rotated needle. Only memory that holds the marker matches, never the needle, nor any
# rotated copy the scan made. Its own "self_*" controls (a marker it builds at run time on the
# heap and in an anonymous mapping) must be found, or the scan proves nothing.
# Script mode prints one JSON line; call mode (P["call"] set) returns the same record from scan().
import ctypes
import json
import mmap
import os

PAGE = mmap.PAGESIZE
MIB = 1 << 20
WINDOW = 768 * MIB  # how far from every known mapping the sweep looks for more
ROTATE = bytes((b + 1) % 256 for b in range(256))

libc = ctypes.CDLL(None, use_errno=True)
_mincore = libc.mincore
_mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_mincore.restype = ctypes.c_int
_write = libc.write
_write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_write.restype = ctypes.c_ssize_t
_mmap = libc.mmap
_mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_mmap.restype = ctypes.c_void_p
_munmap = libc.munmap
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_sbrk = libc.sbrk
_sbrk.argtypes = [ctypes.c_long]
_sbrk.restype = ctypes.c_void_p
MAP_FAILED = ctypes.c_void_p(-1).value
PROT_NONE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE = 0, 0x02, 0x20, 0x4000
CHUNK_PAGES = 256
_vec = ctypes.create_string_buffer(CHUNK_PAGES)


class Phdr(ctypes.Structure):
    _fields_ = [
        ("p_type", ctypes.c_uint32),
        ("p_flags", ctypes.c_uint32),
        ("p_offset", ctypes.c_uint64),
        ("p_vaddr", ctypes.c_uint64),
        ("p_paddr", ctypes.c_uint64),
        ("p_filesz", ctypes.c_uint64),
        ("p_memsz", ctypes.c_uint64),
        ("p_align", ctypes.c_uint64),
    ]


class PhdrInfo(ctypes.Structure):
    _fields_ = [
        ("dlpi_addr", ctypes.c_uint64),
        ("dlpi_name", ctypes.c_char_p),
        ("dlpi_phdr", ctypes.POINTER(Phdr)),
        ("dlpi_phnum", ctypes.c_uint16),
    ]


def loaded_segments():
    """(start, end) of every PT_LOAD segment of every loaded object (dl_iterate_phdr)."""
    out = []
    CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(PhdrInfo), ctypes.c_size_t, ctypes.c_void_p)

    def each(info, size, data):
        i = info.contents
        for k in range(i.dlpi_phnum):
            ph = i.dlpi_phdr[k]
            if ph.p_type == 1:  # PT_LOAD
                out.append((i.dlpi_addr + ph.p_vaddr, i.dlpi_addr + ph.p_vaddr + ph.p_memsz))
        return 0

    libc.dl_iterate_phdr(CB(each), None)
    return out


def mapped_prefix(addr, pages):
    """How many pages from ``addr`` on are mapped: mincore fills its vector up to a hole."""
    ctypes.memset(_vec, 0xFF, pages)
    if _mincore(addr, pages * PAGE, _vec) == 0:
        return pages
    i = _vec.raw[:pages].find(b"\xff")
    return pages if i < 0 else i


def all_free(addr, size):
    """True when no page of [addr, addr+size) is mapped: the kernel honours a hint only then."""
    p = _mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    if p is None or p == MAP_FAILED:
        return False
    _munmap(p, size)
    return p == addr


def sweep(lo, hi, runs):
    p = lo
    while p < hi:
        n = mapped_prefix(p, min(CHUNK_PAGES, (hi - p) // PAGE))
        if n:
            runs.append((p, p + n * PAGE))
            p += n * PAGE
            continue
        for size in (64 * MIB, MIB):
            nxt = (p // size + 1) * size
            if nxt - p > PAGE and nxt <= hi and all_free(p, nxt - p):
                p = nxt
                break
        else:
            p += PAGE


def anchors():
    stack_var = ctypes.c_void_p.in_dll(libc, "environ")  # the env strings sit at the stack's top
    env = ctypes.cast(stack_var.value, ctypes.POINTER(ctypes.c_void_p))
    points = [a for seg in loaded_segments() for a in seg]
    points += [_sbrk(0) or 0, env[0] or 0, id(points), id(ROTATE), id(os), ctypes.addressof(_vec)]
    return [p for p in points if p]


def mappings():
    windows = sorted(
        (max(PAGE, (a - WINDOW) // PAGE * PAGE), (a + WINDOW) // PAGE * PAGE) for a in anchors()
    )
    merged = []
    for lo, hi in windows:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    runs = []
    for lo, hi in merged:
        sweep(lo, hi, runs)
    return runs


def read_all(runs):
    """Yields (address, bytes) of every readable byte in ``runs``: a pipe write of an
    unreadable page fails with EFAULT instead of faulting, so reading never crashes."""
    r, w = os.pipe()
    try:
        for start, end in runs:
            p = start
            while p < end:
                n = min(65536, end - p)
                k = _write(w, p, n)
                if k <= 0:
                    p = (p // PAGE + 1) * PAGE
                    continue
                parts = []
                got = 0
                while got < k:
                    part = os.read(r, k - got)
                    parts.append(part)
                    got += len(part)
                yield p, b"".join(parts)
                p += k
    finally:
        os.close(r)
        os.close(w)


def scan(needles):
    """The kinds whose marker is somewhere in this process's readable memory."""
    own = os.urandom(12).hex().encode()  # a marker made here, at run time: the controls
    heap_copy = bytes(own) + b"."
    mapped_copy = mmap.mmap(-1, MIB)
    mapped_copy[4096 : 4096 + len(own)] = own
    wanted = {k: bytes.fromhex(v) for k, v in needles.items()}
    wanted["self_heap"] = wanted["self_mmap"] = own.translate(ROTATE)
    longest = max(len(v) for v in wanted.values())
    found, scanned, runs = set(), 0, mappings()
    mmap_lo = ctypes.addressof(ctypes.c_char.from_buffer(mapped_copy))
    tail, tail_end = b"", None
    for addr, data in read_all(runs):
        scanned += len(data)
        text = data.translate(ROTATE)
        joined = tail + text if tail_end == addr else text
        for kind, needle in wanted.items():
            if kind in found or kind in ("self_heap", "self_mmap"):
                continue
            if needle in joined:
                found.add(kind)
        at = joined.find(wanted["self_heap"])
        while at >= 0:
            base = addr - (len(joined) - len(text))
            found.add("self_mmap" if mmap_lo <= base + at < mmap_lo + MIB else "self_heap")
            at = joined.find(wanted["self_heap"], at + 1)
        tail, tail_end = joined[-longest:], addr + len(data)
    del heap_copy
    mapped_copy.close()
    return {
        "id": hash("stepstones-zygote-id"),
        "found": sorted(k for k in found if not k.startswith("self_")),
        "controls": sorted(k for k in found if k.startswith("self_")),
        "scanned_mib": round(scanned / MIB, 1),
        "mappings": len(runs),
    }


if not P.get("call"):
    report = scan(P.get("needles", {}))
    if report["found"]:
        print("ESCAPED: found markers of earlier jobs:", ", ".join(report["found"]))
    print(json.dumps(report))


# -- the copier: an induction answer that does not know f -----------------------------------------
# Run as a Call of ``f`` (P["call"] set), it looks through its memory for the result frames of
# earlier jobs ("V" index NUL value NUL cpu, with or without the 16-byte token after the tag)
# and answers call i with the value found most often for index i. A control frame it builds at
# run time must be found, or it raises: a copier that cannot see its own memory proves nothing.
_copied = None
_calls = 0


def sibling_values():
    import ast
    import re
    from collections import Counter

    own = os.urandom(8).hex()
    control = ("V" + "97" + "\0'" + own + "'\0" + "0.25").encode()
    frame = re.compile(rb"V(?:[\s\S]{16})?(\d{1,3})\x00([^\x00]{1,2000})\x00\d[\d.e-]*")
    seen = {}
    tail, tail_end = b"", None
    for addr, data in read_all(mappings()):
        joined = tail + data if tail_end == addr else data
        for m in frame.finditer(joined):
            seen.setdefault(int(m.group(1)), Counter())[m.group(2)] += 1
        tail, tail_end = joined[-4096:], addr + len(data)
    found = seen.pop(97, Counter())
    if ("'" + own + "'").encode() not in found:
        raise RuntimeError("the copier's scan missed its own control frame")
    del control
    table = {}
    for index, counts in seen.items():
        for text, _ in counts.most_common():
            try:
                table[index] = ast.literal_eval(text.decode())
                break
            except Exception:
                continue
    return table


def f(*args, **kwargs):
    global _copied, _calls
    if _copied is None:
        _copied = sibling_values()
    index, _calls = _calls, _calls + 1
    return _copied.get(index)


# -- the forger: a job that finds its own token and writes its own result frames -----------------
# Run as a Call with P["forge"] = the values to claim, it takes as candidate tokens every
# random-looking 16 bytes of its stack (where the harness keeps the token while the job runs),
# writes "call i returned value" and "finished" frames signed with each, and exits before any
# call runs. That forges its own status and values (its own word, which it controls anyway);
# graders compare values on the host.
def forge_and_exit(values):
    top = ctypes.cast(
        ctypes.c_void_p.in_dll(libc, "environ").value, ctypes.POINTER(ctypes.c_void_p)
    )[0]
    stack = [(lo, hi) for lo, hi in mappings() if lo <= top < hi]
    tokens = set()
    for addr, data in read_all(stack):
        for i in range(len(data) - 15):
            window = data[i : i + 16]
            # A random token has >= 12 distinct bytes and <= 2 zero bytes but for odds of
            # about 1 in 10,000; pointers (two zero bytes each) mostly fail the test.
            if len(set(window)) >= 12 and window.count(0) <= 2:
                tokens.add(window)

    def frame(token, tag, *fields):
        body = tag + token + b"\0".join(f.encode() for f in fields)
        return len(body).to_bytes(4, "little") + body

    claim = [(str(i), v) for i, v in enumerate(values)]
    for token in tokens:
        out = b"".join(frame(token, b"S", i) + frame(token, b"V", i, v, "0.0") for i, v in claim)
        os.write(3, out + frame(token, b"D", "0"))
    os._exit(0)


if P.get("forge") is not None:
    forge_and_exit(P["forge"])
