"""Entry point of a zygote process: ``python -P -s -S -X utf8 _zygote.py EXT LITERAL HARNESS``.

Stdlib only, started with a scrubbed environment. It loads the engine extension, the literal
codec and the harness by file path (not via the ``stepstones`` package, to keep the zygote
small), preloads the stdlib modules generated code commonly imports, and enters the Rust
zygote loop, which returns only inside a forked, locked-down child: that child runs the harness.
"""

import importlib.machinery
import importlib.util
import os
import sys

# Imported once here so every forked job gets them for free (copy-on-write).
PRELOAD = ["abc", "array", "ast", "base64", "binascii", "bisect", "builtins", "calendar", "cmath", "collections", "collections.abc", "contextlib", "copy", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json", "keyword", "math", "numbers", "operator", "pprint", "queue", "random", "re", "statistics", "string", "struct", "textwrap", "time", "traceback", "types", "typing", "unicodedata", "string", "zlib"]


def _load_source(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    ext_path, literal_path, harness_path = sys.argv[1:4]
    loader = importlib.machinery.ExtensionFileLoader("stepstones._sandbox", ext_path)
    spec = importlib.util.spec_from_file_location("stepstones._sandbox", ext_path, loader=loader)
    engine = importlib.util.module_from_spec(spec)
    loader.exec_module(engine)
    literal = _load_source("_stepstones_literal", literal_path)
    harness = _load_source("_stepstones_harness", harness_path)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    job = engine.zygote_main(3)  # returns only in a job's child, after the recipe
    harness.run(job, literal)
    os._exit(70)


main()
