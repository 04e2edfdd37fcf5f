"""The worker's CPU per event in `prepare` and `merge` (parse, validate, collapse), in-process on loadgen traffic:
the part of the worker's time that overlaps the batch in flight, measured without Kafka or the stores, so that a
change of the parser can be compared before and after on a shared machine (CPU time, the best of --repeat).

    PYTHONSAFEPATH=1 .venv/bin/python bench/prepare_cpu.py --events 60000 --repeat 5

Messages are cut into batches of USAGESTREAM_BATCH_SIZE and each batch into fetches of the batch consumer's
PREPARE_CHUNK, as a drain hands them over.
"""

from __future__ import annotations

import argparse
import time
import zlib

from usagestream.publisher.loadgen.traffic import generate
from usagestream.settings import Settings
from usagestream.streams.batch_consumer import PREPARE_CHUNK
from usagestream.streams.kafka_io import Consumed
from usagestream.streams.pipeline import merge, prepare

PARTITIONS = 6


def _records(settings: Settings, events: int) -> list[Consumed]:
    topics = {"usage": settings.topic_usage, "candidates": settings.topic_candidates}
    topics["entities"] = settings.topic_entities
    offsets = [0] * PARTITIONS
    out = []
    for m in generate(int(events / 8.6), seed=7, dup_ratio=0.01, reorder_ratio=0.01):
        p = zlib.crc32(m.key) % PARTITIONS
        out.append(Consumed(topics[m.kind], p, offsets[p], m.key, m.value))
        offsets[p] += 1
    return out


def _cpu_seconds(settings: Settings, records: list[Consumed]) -> float:
    started = time.process_time()
    for i in range(0, len(records), settings.batch_size):
        batch = records[i : i + settings.batch_size]
        merge(settings, [prepare(settings, batch[j : j + PREPARE_CHUNK]) for j in range(0, len(batch), PREPARE_CHUNK)])
    return time.process_time() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    settings = Settings.from_env()
    records = _records(settings, args.events)
    runs = [_cpu_seconds(settings, records) / len(records) * 1e6 for _ in range(args.repeat)]
    print(
        f"prepare + merge: {min(runs):.2f} us CPU/event (best of {args.repeat}: {', '.join(f'{r:.2f}' for r in runs)})"
    )


if __name__ == "__main__":
    main()
