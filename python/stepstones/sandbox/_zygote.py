"""Entry point of a zygote process: ``python -P -s -S -X utf8 _zygote.py EXT LITERAL HARNESS``.

Stdlib only, started with a scrubbed environment. It loads the engine extension, the literal
codec and the harness by file path (not via the ``stepstones`` package, to keep the zygote
small), preloads the stdlib modules generated code commonly imports, and enters the Rust
zygote loop, which returns only inside a forked, locked-down child: that child runs the harness.
"""

import contextlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from types import ModuleType

# Imported once here so every forked job gets them for free (copy-on-write). Kept to what
# generated code imports most (HumanEval's imports: typing, math, random, copy, string,
# collections, re): every preloaded module also costs every job, because fork copies and exit
# tears down each mapping of the zygote. Each C extension adds five mappings; dropping
# hashlib, decimal, datetime, statistics, dataclasses, pprint and the like (89 of 162
# mappings, 2.7 MB of anonymous memory) made a job about a quarter cheaper (bench_sandbox).
# A job that imports one of them pays the import itself (about 1-7 ms).
PRELOAD = [
    "abc",
    "bisect",
    "collections",
    "collections.abc",
    "contextlib",
    "copy",
    "enum",
    "functools",
    "heapq",
    "io",
    "itertools",
    "json",
    "keyword",
    "math",
    "operator",
    "random",
    "re",
    "string",
    "textwrap",
    "time",
    "traceback",
    "types",
    "typing",
]

CONTROL_FD = 3


def _load(
    name: str, path: str, loader: importlib.machinery.ExtensionFileLoader | None
) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _fatal(text: str) -> None:
    """Tells the parent why startup failed (an E message: u32 len, kind, u64 id, text)."""
    data = text.encode("utf-8", "replace")[:60000]
    body = b"E" + bytes(8) + len(data).to_bytes(4, "little") + data
    with contextlib.suppress(OSError):
        os.write(CONTROL_FD, len(body).to_bytes(4, "little") + body)


def main() -> None:
    try:
        ext_path, literal_path, harness_path = sys.argv[1:4]
        loader = importlib.machinery.ExtensionFileLoader("stepstones._sandbox", ext_path)
        engine = _load("stepstones._sandbox", ext_path, loader)
        literal = _load("_stepstones_literal", literal_path, None)
        harness = _load("_stepstones_harness", harness_path, None)
        for name in PRELOAD:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
    except BaseException:
        _fatal("zygote bootstrap failed:\n" + traceback.format_exc())
        os._exit(1)
    # Never returns: jobs' children run the harness from inside and exit there.
    engine.zygote_main(CONTROL_FD, harness, literal)
    os._exit(1)


main()
