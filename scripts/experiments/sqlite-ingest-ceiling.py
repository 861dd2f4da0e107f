#!/usr/bin/env python3
"""How many outcomes a second SQLite itself can store on this machine, before any server work.

No TLS, no schema check, no consent, no statistics: only the rows a batch of 100 outcomes
writes, committed as the server's group commit commits them (WAL, `synchronous=FULL`, 32
batches per transaction, each in a savepoint unless `--savepoints none`). The sub-journal is kept in memory here, which
the server tried and took back (benchmarks.md), so the figures lean high. Python's `executemany`
binds in C; its own cost per row is a few microseconds, so the figures are a little below
what SQLite alone would reach, and far above nothing.

Layouts:
  rows        the server's `outcomes` table: one row per outcome, keyed by its event id (text),
              with the foreign key to its batch and the four indexes (cohort, subject, batch,
              time)
  rows-v7     the same, with time-ordered (version 7) event ids and batch ids, as the agent and
              the server make them
  rows-now    rows-v7 with the indexes the server keeps today (subject, batch, time; the
              cohort index was dropped)
  rows-bare   the same rows without the secondary indexes
  packed      one row per batch with its outcomes packed in a blob, plus one entry per outcome
              in an event-id index (duplicates) and one in a (subject, batch) index (erasure)
  packed-ids  the packed batch with the event-id index only
  packed-none the packed batch alone
  packed-v7, packed-ids-v7
              packed and packed-ids with version 7 event and batch ids

--subjects N draws each outcome's subject from a pool of N (the ingest bench's kiosks use 64);
0, the default, gives every outcome a subject of its own. --savepoints none commits the
batches of a group without a savepoint each, as the server has since it redoes a group whose
batch is refused after writing.

    python3 scripts/experiments/sqlite-ingest-ceiling.py --work /tmp/ceiling [--cache-kib 2000]
        [--subjects 64] [--savepoints none] [--layouts rows-now,packed-v7]
"""
import argparse
import os
import random
import sqlite3
import time
import uuid

OUTCOME_COLUMNS = """event_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    device_id TEXT, attempted_at REAL, model_version TEXT, threshold_version TEXT, site TEXT,
    camera_model TEXT, tags TEXT, score REAL, decision TEXT, label TEXT, label_source TEXT,
    face_size_px INTEGER, sharpness REAL, brightness REAL, liveness_score REAL,
    subject_pseudonym TEXT, consent_ref TEXT, shadow_model_version TEXT, shadow_score REAL,
    key_version INTEGER, shadow_scores TEXT"""
OUTCOME_INDEXES = ["model_version, site, camera_model", "subject_pseudonym", "batch_id", "attempted_at"]
BATCHES, BATCH_SIZE, GROUP = 800, 100, 32
SIGNED_BODY = 50_000  # bytes of a signed batch of 100 outcomes, kept with the batch


def open_store(path, cache_kib):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "temp_store = MEMORY",
                   f"cache_size = -{cache_kib}"):
        db.execute(f"PRAGMA {pragma}")
    return db


def new_id(rng, time_ordered):
    """A random (version 4 shaped) id, or a version 7 one: 48 bits of Unix milliseconds first."""
    if not time_ordered:
        return str(uuid.UUID(int=rng.getrandbits(128)))
    milliseconds = int(time.time() * 1000) & (1 << 48) - 1
    return str(uuid.UUID(int=milliseconds << 80 | 0x7 << 76 | rng.getrandbits(12) << 64 | 0b10 << 62 | rng.getrandbits(62)))


def outcome_rows(batch_id, rng, time_ordered, subjects):
    now = time.time()
    return [(new_id(rng, time_ordered), batch_id, "kiosk-001", now + i, "dlib-resnet-v1", "initial",
             f"branch-{i % 7}", f"cam-x{i % 3}", '["lobby"]', (i % 200) / 100 - 1, "accept", "genuine",
             "fallback-id-check", 100 + i % 100, 120.5, 0.5, 0.9, rng.choice(subjects) if subjects else "%064x" % rng.getrandbits(256), f"consent-{i % 9}",
             None, None, 1, None) for i in range(BATCH_SIZE)]


def run(layout, path, cache_kib, rng, subjects, savepoints):
    db = open_store(path, cache_kib)
    packed = layout.startswith("packed")
    time_ordered = layout in ("rows-v7", "rows-now") or layout.endswith("-v7")
    if packed:
        db.execute("CREATE TABLE batches (batch_id TEXT PRIMARY KEY, received_at REAL, body BLOB, outcomes BLOB)")
        db.execute("CREATE INDEX batches_by_arrival ON batches (received_at)")
        db.execute("CREATE TABLE outcome_ids (event_id BLOB PRIMARY KEY, batch_id TEXT) WITHOUT ROWID")
        db.execute("CREATE TABLE subject_batches (subject TEXT, batch_id TEXT, PRIMARY KEY (subject, batch_id)) WITHOUT ROWID")
    else:
        db.execute("CREATE TABLE batches (batch_id TEXT PRIMARY KEY, received_at REAL, body BLOB)")
        db.execute(f"CREATE TABLE outcomes ({OUTCOME_COLUMNS})")
        if layout in ("rows", "rows-v7", "rows-now"):
            for number, columns in enumerate(OUTCOME_INDEXES[1:] if layout == "rows-now" else OUTCOME_INDEXES):
                db.execute(f"CREATE INDEX outcomes_{number} ON outcomes ({columns})")
    body = os.urandom(SIGNED_BODY)
    batches = []
    for _ in range(BATCHES):
        batch_id = new_id(rng, time_ordered)
        rows = outcome_rows(batch_id, rng, time_ordered, subjects)
        # A packed row of 100 outcomes is about as long as their columns.
        batches.append((batch_id, rows, os.urandom(200 * BATCH_SIZE),
                        [(uuid.UUID(row[0]).bytes, batch_id) for row in rows], [(row[17], batch_id) for row in rows]))
    insert_outcome = "INSERT INTO outcomes VALUES (" + ", ".join("?" * 23) + ")"
    start = time.perf_counter()
    for first in range(0, BATCHES, GROUP):
        db.execute("BEGIN")
        for batch_id, rows, packed_outcomes, ids, subjects in batches[first:first + GROUP]:
            if savepoints:
                db.execute("SAVEPOINT batch")
            if packed:
                db.execute("INSERT INTO batches VALUES (?, ?, ?, ?)", (batch_id, time.time(), body, packed_outcomes))
                if layout in ("packed", "packed-ids", "packed-v7", "packed-ids-v7"):
                    db.executemany("INSERT INTO outcome_ids VALUES (?, ?)", ids)
                if layout in ("packed", "packed-v7"):
                    db.executemany("INSERT OR IGNORE INTO subject_batches VALUES (?, ?)", subjects)
            else:
                db.execute("INSERT INTO batches VALUES (?, ?, ?)", (batch_id, time.time(), body))
                db.executemany(insert_outcome, rows)
            if savepoints:
                db.execute("RELEASE batch")
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return BATCHES * BATCH_SIZE / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="a directory for the throwaway database files")
    parser.add_argument("--cache-kib", type=int, default=2000, help="page cache (SQLite's default is 2000 KiB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layouts", default="rows,rows-v7,rows-bare,packed,packed-ids,packed-none")
    parser.add_argument("--subjects", type=int, default=0, help="size of the pool subjects are drawn from; 0: one each")
    parser.add_argument("--savepoints", choices=["each", "none"], default="each")
    arguments = parser.parse_args()
    os.makedirs(arguments.work, exist_ok=True)
    rng = random.Random(15)
    subjects = ["%064x" % rng.getrandbits(256) for _ in range(arguments.subjects)]
    print(f"{BATCHES} batches of {BATCH_SIZE}, {GROUP} per commit, page cache {arguments.cache_kib} KiB, "
          f"subjects {arguments.subjects or 'one each'}, savepoints {arguments.savepoints}")
    for layout in arguments.layouts.split(","):
        rates = [run(layout, os.path.join(arguments.work, f"{layout}.sqlite"), arguments.cache_kib, rng, subjects,
                     arguments.savepoints == "each")
                 for _ in range(arguments.repeats)]
        print(f"{layout:12s} " + " · ".join(f"{rate:,.0f}" for rate in rates) + " outcomes/s")


if __name__ == "__main__":
    main()
