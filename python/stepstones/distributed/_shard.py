"""Which actor grows which chain: a pure function of the chain id.

Sharding by chain id (not by arrival order) means a restarted actor is handed exactly the
unfinished chains of its shard again, and a resumed run with the same actor count sends every
chain to the same shard as before.
"""

from __future__ import annotations

import hashlib

from stepstones.errors import ConfigError

__all__ = ["shard_of"]


def shard_of(chain_id: str, shards: int) -> int:
    """The shard (0..shards-1) of a chain id; stable across processes and Python versions
    (sha256, not ``hash()``, whose seed differs per process)."""
    if shards < 1:
        raise ConfigError(f"shards must be >= 1, got {shards}")
    digest = hashlib.sha256(chain_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards
