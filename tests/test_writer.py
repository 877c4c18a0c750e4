"""The writer on the real engine: batches, spool and replay through real outages, shutdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.analytics.events import Event, encode
from gateway.analytics.journal import GROW
from gateway.analytics.spool import Spool
from gateway.analytics.steps import default_pipeline
from gateway.analytics.writer import EventWriter
from gateway.storage import Storage
from tests.analytics_helpers import make_event
from tests.chdb import migrated_storage
from tests.servers import free_port


def lines(count: int, prefix: str = "/p") -> list[bytes]:
    return [encode(_stored(f"{prefix}{n}")) for n in range(count)]


def _stored(path: str) -> Event:
    """An event after the ingest steps, as the writer receives it."""
    event = make_event(path)
    default_pipeline(lambda line: None, None).process(event)
    return event


def count(storage: Storage, table: str = "events") -> int:
    return int(storage.connect().query(f"SELECT count() FROM {table}").result_rows[0][0])


def writer(storage: Storage, tmp_path: Path, **options: object) -> EventWriter:
    return EventWriter(storage, Spool(tmp_path / "spool"), **options)  # type: ignore[arg-type]


def test_batches_are_written_and_shutdown_flushes_the_rest(tmp_path: Path) -> None:
    storage = migrated_storage()
    out = writer(storage, tmp_path, flush_interval=3600, batch_size=100)
    out.start()
    for line in lines(250):
        out.put(line)
    out.close()  # as on SIGTERM: nothing queued may be left behind
    assert count(storage) == 250
    assert out.written == 250 and out.spooled == 0


def test_clickhouse_unreachable_spools_then_replays_in_order_once(tmp_path: Path) -> None:
    storage = migrated_storage()
    down = Storage(f"http://127.0.0.1:{free_port()}/db", connect_timeout=0.5)
    first = writer(down, tmp_path, flush_interval=3600, batch_size=10)
    first.start()
    for line in lines(25, "/a"):
        first.put(line)
    first.close()
    assert first.spooled == 25 and first.written == 0
    assert (tmp_path / "spool" / "events-0.spool").stat().st_size > 0

    # ClickHouse is back: the next writer on the same spool replays before anything new.
    second = writer(storage, tmp_path, flush_interval=3600, batch_size=10)
    second.start()
    for line in lines(5, "/b"):
        second.put(line)
    second.close()
    assert second.replayed == 25 and second.written == 5
    assert count(storage) == 30
    assert (tmp_path / "spool" / "events-0.spool").stat().st_size == 0


def test_outage_on_a_running_writer_spools_and_recovers(tmp_path: Path) -> None:
    storage = migrated_storage()
    client = storage.connect()
    out = writer(storage, tmp_path, flush_interval=3600, batch_size=10)
    out.put(lines(1)[0])
    out.flush()
    client.command("DETACH TABLE events")  # a real failure of the real engine
    for line in lines(20, "/down"):
        out.put(line)
    out.flush()
    assert out.spooled == 20 and out.spool.pending
    client.command("ATTACH TABLE events")
    out.flush()  # the first drain after recovery replays the spool
    assert out.replayed == 20 and not out.spool.pending
    out.close()
    assert count(storage) == 21
    assert count(storage, "sessions") == 1
    (pages,) = client.query("SELECT page_count FROM sessions").result_rows[0]
    assert pages == 21


def test_replaying_a_batch_clickhouse_already_has_does_not_duplicate(tmp_path: Path) -> None:
    storage = migrated_storage()
    spool = Spool(tmp_path / "spool")
    batch = lines(7)
    token = "ab" * 16
    spool.append(token, batch)
    # The batch reached ClickHouse but the answer was lost: it is still in the spool.
    storage.connect().raw_insert(
        "events",
        list(EventWriter(storage, spool).columns),
        b"\n".join(batch),
        settings={"insert_deduplication_token": token},
        fmt="JSONCompactEachRow",
    )
    out = EventWriter(storage, spool, flush_interval=3600)
    out.flush()
    out.close()
    assert out.replayed == 7
    assert count(storage) == 7
    (pages,) = storage.connect().query("SELECT sum(page_count) FROM sessions").result_rows[0]
    assert pages == 7


def test_memory_stays_bounded_when_the_writer_is_stuck(tmp_path: Path) -> None:
    storage = migrated_storage()
    out = writer(storage, tmp_path, flush_interval=3600, batch_size=10, max_queue=50)
    for line in lines(500):  # no thread running: nothing drains the queue
        out.put(line)
        assert out.queued <= 50
    assert out.spooled >= 450
    out.flush()
    out.close()
    assert count(storage) == 500


def test_a_torn_last_record_is_cut_and_the_rest_replayed(tmp_path: Path) -> None:
    storage = migrated_storage()
    spool = Spool(tmp_path / "spool")
    spool.append("cd" * 16, lines(3))
    spool.close()
    with open(tmp_path / "spool" / "events-0.spool", "ab") as handle:
        handle.write(b"CGS1 " + b"ef" * 16 + b" 900 4\n[1,")  # a crash mid-write
    out = EventWriter(storage, Spool(tmp_path / "spool"), flush_interval=3600)
    out.flush()
    out.close()
    assert count(storage) == 3


def test_two_writers_never_share_a_spool_file(tmp_path: Path) -> None:
    first, second = Spool(tmp_path), Spool(tmp_path)
    assert first.path != second.path
    first.close()
    second.close()


def test_a_writer_that_died_leaves_a_journal_the_next_one_writes_once(tmp_path: Path) -> None:
    storage = migrated_storage()
    dead = writer(storage, tmp_path, flush_interval=3600)
    for line in lines(40, "/journalled"):
        dead.put(line)  # acknowledged, never inserted: the process dies here
    dead.spool.close()  # what the kernel does to a dead process's lock
    journal = tmp_path / "spool" / "events-0.journal"
    assert journal.read_bytes().count(b"\n") == 40

    second = writer(storage, tmp_path, flush_interval=3600)
    second.put(lines(1, "/new")[0])
    second.close()
    assert count(storage) == 41
    assert not list((tmp_path / "spool").glob("events-0.journal*")), "journal files left"


@pytest.mark.parametrize("batch", [1, 64])
def test_a_journal_grown_past_its_first_map_reads_back_whole_after_a_death(
    tmp_path: Path, batch: int
) -> None:
    # More than GROW bytes: the file is grown and remapped while lines go in, and a
    # death leaves it with zero bytes after the last line, which are no line. In
    # batches of 64, each batch goes in with one system call and the single line
    # after it (a beacon's event) is copied into the map, which grows around them.
    storage = migrated_storage()
    dead = writer(storage, tmp_path, flush_interval=3600, batch_size=10_000)
    journalled = lines(6000, "/grown")
    assert sum(len(line) + 1 for line in journalled) > GROW
    for first in range(0, len(journalled), batch + 1):
        dead.put_many(journalled[first : first + batch])
        for line in journalled[first + batch : first + batch + 1]:
            dead.put(line)
    dead.spool.close()
    data = (tmp_path / "spool" / "events-0.journal").read_bytes()
    assert data.rstrip(b"\0").split(b"\n")[:-1] == journalled

    # Sealed files are cut to their lines; the next writer stores each line once.
    live = writer(storage, tmp_path, flush_interval=3600)
    live.put(lines(1, "/after")[0])
    live.flush()
    live.close()
    assert count(storage) == 6001
    assert not list((tmp_path / "spool").glob("events-0.journal*")), "journal files left"


def test_a_journal_cut_short_mid_line_keeps_its_complete_lines(tmp_path: Path) -> None:
    storage = migrated_storage()
    dead = writer(storage, tmp_path, flush_interval=3600)
    for line in lines(5, "/whole"):
        dead.put(line)
    dead.spool.close()
    with open(tmp_path / "spool" / "events-0.journal", "ab") as journal:
        journal.write(lines(1, "/torn")[0][:20])  # a power cut mid-write

    writer(storage, tmp_path, flush_interval=3600).close()
    assert count(storage) == 5
