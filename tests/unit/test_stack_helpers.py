"""The launcher's and the Kafka adapter's pure parts: parsing, pg_hba edits, state records, DLQ records."""

from __future__ import annotations

import json
import os
from pathlib import Path

from usagestream.settings import Settings
from usagestream.stack import procs, services
from usagestream.stack.postgres_access import add_trust_lines
from usagestream.stack.postgres_cluster import Target, parse_clusters
from usagestream.stack.state import StateDir
from usagestream.streams.kafka_io import Consumed, dead_letter_record
from usagestream.streams.kafka_topics import topic_specs

LSCLUSTERS = (
    "15  main    5432 online postgres /var/lib/postgresql/15/main"
    " /var/log/postgresql/postgresql-15-main.log\n"
    "16  other   5433 down   postgres /var/lib/postgresql/16/other"
    " /var/log/postgresql/postgresql-16-other.log\n"
)

HBA = """# comment
# another

local   all             postgres                                peer
host    all             all             127.0.0.1/32            scram-sha-256
"""


def test_parse_clusters() -> None:
    main, other = parse_clusters(LSCLUSTERS)
    assert (main.label, main.port, main.online) == ("15/main", 5432, True)
    assert (other.label, other.port, other.online) == ("16/other", 5433, False)
    assert other.log.endswith("postgresql-16-other.log")


def test_trust_lines_go_before_the_first_rule_once(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(HBA)
    assert add_trust_lines(hba, "dev")
    assert not add_trust_lines(hba, "dev")
    lines = [line for line in hba.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[:2] == [
        "host all dev 127.0.0.1/32 trust # usagestream",
        "host all dev ::1/128 trust # usagestream",
    ]
    assert len(lines) == 4


def test_trust_lines_added_by_hand_count(tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("host    all dev 127.0.0.1/32 trust\nhost all dev ::1/128   trust\n" + HBA)
    assert not add_trust_lines(hba, "dev")


def test_target_from_dsn() -> None:
    t = Target.from_dsn("postgresql://alice:secret@127.0.0.1:5433/stats")
    assert (t.host, t.port, t.role, t.database) == ("127.0.0.1", 5433, "alice", "stats")
    assert Target.from_dsn("postgresql://127.0.0.1/usagestream").port == 5432


def test_services_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:19092,127.0.0.1:29092", redis_url="redis://127.0.0.1:16379/2")
    pg, redis, kafka = services.build(settings, StateDir.at(str(tmp_path)), tmp_path / "home", None)
    assert (kafka.host, kafka.port, redis.port, pg.port) == ("127.0.0.1", 19092, 16379, 5432)
    assert isinstance(kafka, services.KafkaService) and kafka.layout.controller_port == 19093
    assert not (tmp_path / "kafka").exists()  # building the plan creates nothing


def test_state_records_and_forgets(tmp_path: Path) -> None:
    state = StateDir.at(str(tmp_path / "s"))
    with state.locked():
        state.record("redis", {"pid": 1, "ticks": 2})
        state.record("kafka", {"pid": 3, "ticks": 4})
        state.record("redis", None)
    assert state.started() == {"kafka": {"pid": 3, "ticks": 4}}


def test_pid_identity_includes_start_time() -> None:
    me = os.getpid()
    ticks = procs.start_ticks(me)
    assert ticks is not None
    assert procs.is_ours({"pid": me, "ticks": ticks})
    assert not procs.is_ours({"pid": me, "ticks": ticks + 1})  # same pid, another process


def test_dead_letter_record_follows_the_contract() -> None:
    raw = dead_letter_record("bad", Consumed("t", 1, 7, None, b"ok \xc3"))
    assert json.loads(raw) == {
        "reason": "bad",
        "topic": "t",
        "partition": 1,
        "offset": 7,
        "key": None,
        "value": "ok \ufffd",
    }


def test_topic_specs() -> None:
    specs = {t.name: t for t in topic_specs(Settings(partitions=4))}
    assert [specs[n].num_partitions for n in ("gateway.usage.v1", "gateway.candidates.v1")] == [4, 4]
    assert specs["gateway.entities.v1"].topic_configs == {"cleanup.policy": "compact"}
    assert specs["usagestream.dlq.v1"].topic_configs == {"cleanup.policy": "delete"}


def test_a_read_dsn_on_another_local_port_adds_a_standby_after_the_primary(tmp_path: Path) -> None:
    settings = Settings(postgres_read_dsn="postgresql://127.0.0.1:5433/usagestream")
    pg, standby, _redis, _kafka = services.build(settings, StateDir.at(str(tmp_path)), tmp_path / "home", None)
    assert isinstance(standby, services.StandbyService)
    assert (pg.port, standby.port, standby.primary.port) == (5432, 5433, 5432)
    same = Settings(postgres_read_dsn="postgresql://127.0.0.1:5432/usagestream")  # the primary itself: no standby
    assert len(services.build(same, StateDir.at(str(tmp_path)), tmp_path / "home", None)) == 3


def test_a_recorded_standby_is_stopped_by_a_down_without_the_setting(tmp_path: Path) -> None:
    state = StateDir.at(str(tmp_path))
    state.record("postgres-standby", {"port": 5439, "data": "/x"})
    plan = services.build(Settings(), state, tmp_path / "home", None)
    assert [svc.name for svc in plan] == ["postgres", "postgres-standby", "redis", "kafka"] and plan[1].port == 5439
