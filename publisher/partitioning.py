"""Kafka's default partitioner (murmur2 of the key, as the Java client and aiokafka compute it), made fast.

The Publisher fills one record batch per partition itself, so it must pick the same partition any other client
would for the same key: one request's usage and candidate events then meet in one partition of each topic.
"""

from __future__ import annotations

import struct

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_CACHE_LIMIT = 65_536


def murmur2(data: bytes) -> int:
    """MurmurHash2 with Kafka's seed, equal to `aiokafka.partitioner.murmur2` (reads 4 bytes at a time)."""
    length = len(data)
    h = 0x9747B28C ^ length
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail, rest = length & ~3, length & 3
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class Partitioner:
    """key -> partition for a partition count; remembers recent keys (a request sends several events)."""

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes, partitions: int) -> int:
        positive = self._hashes.get(key)
        if positive is None:
            if len(self._hashes) >= _CACHE_LIMIT:
                self._hashes.clear()
            positive = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return positive % partitions
