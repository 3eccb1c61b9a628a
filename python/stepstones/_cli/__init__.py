"""The one command-line layer (docs/design.md §5): every subcommand's options, and the one
place that turns parsed arguments into settings and configs.

A subcommand that runs locally or on Ray (``generate``, ``serve``) declares its options once
here and builds one settings record from them; the local and the Ray command take that
record, so they differ only in where the work runs, never in which options they honour.
Nothing here imports Ray, the sandbox or an LLM client at import time.
"""
