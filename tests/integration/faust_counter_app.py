"""A minimal faust app for test_faust_minimal: counts messages per key in a Table and reports each new count.

Run as `python faust_counter_app.py BOOTSTRAP APP_ID DATADIR SOURCE REPORT`; it starts a worker and runs until
SIGTERM. The table lives in memory only, so a new worker can know the counts only from the changelog topic.
Once its table is recovered and its partitions resumed it creates DATADIR/ready-PID.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import faust

bootstrap, app_id, datadir, source_name, report_name = sys.argv[1:6]

app = faust.App(
    app_id,
    broker=f"kafka://{bootstrap}",
    datadir=datadir,
    store="memory://",
    web_enabled=False,
    autodiscover=False,
    topic_partitions=1,
    topic_replication_factor=1,
    table_standby_replicas=0,
    processing_guarantee="at_least_once",
)
source = app.topic(source_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
report = app.topic(report_name, key_serializer="raw", value_serializer="raw")
counts = app.Table("counts", default=int, partitions=1)


@app.agent(source)
async def count(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
    async for key, _value in stream.items():
        name = key.decode()
        counts[name] += 1
        await report.send(key=key, value=str(counts[name]).encode())
        yield None


@app.task
async def announce_ready() -> None:
    # Faust resumes fetching before it seeks to the committed offsets (faust-streaming issues 216/217): a
    # message already waiting at start-up can race that seek. The test publishes only once this file exists.
    await app.tables.recovery.completed.wait()
    await asyncio.sleep(1.0)
    with open(os.path.join(datadir, f"ready-{os.getpid()}"), "w"):
        pass


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
