#!/usr/bin/env python3
"""The SQLite floor for an import: inserts N contacts with the rows Herald writes for each
(contact, one subscription, two consents, one ledger event) into a fresh database built
from Herald's own SQLite migration, with Herald's pragmas and 1 000-row transactions, in
the tightest loop Python's C sqlite3 module allows (no parsing, no rules, no hashing
beyond the ledger's). Herald cannot import faster than this on the same machine.
Usage: sqlite-floor.py N DBPATH"""
import hashlib
import sqlite3
import sys
import time

n, path = int(sys.argv[1]), sys.argv[2]
migration = open(__file__.rsplit("/", 2)[0] + "/migrations/sqlite/0001_foundation.sql").read()
db = sqlite3.connect(path, isolation_level=None)
for pragma in ["journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "cache_size=-32768", "wal_autocheckpoint=10000"]:
    db.execute("PRAGMA " + pragma)
db.executescript(migration)
db.execute("INSERT INTO lists (name, created_at) VALUES ('newsletter', '2026-01-01')")
db.execute("INSERT INTO purposes (name, created_at) VALUES ('newsletter', '2026-01-01'), ('tracking', '2026-01-01')")
at = "2026-11-22 07:43:12.123456+00:00"
body = ('{"contact_id":1,"seq":1,"at":"2026-11-22T07:43:12.123456Z","actor":"import:c.csv","action":"created",'
        '"changes":{"consent_date":[null,"2025-03-01T00:00:00Z"],"legal_basis":[null,"consent"],"list.newsletter":[null,"unconfirmed"],'
        '"opt_in_status":[null,"single_opt_in_user"],"processing":[null,"active"],"purpose.newsletter":[null,"granted"],'
        '"purpose.tracking":[null,"withdrawn"],"source_type":[null,"import"]},"evidence":{"line":"2"}}')
start = time.time()
for first in range(0, n, 1000):
    ids = range(first + 1, min(first + 1000, n) + 1)
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO contacts (id, email, email_norm, email_mac, first_name, last_name, country, attributes, opt_in_status, "
        "legal_basis, consent_date, source_type, processing, bounce_status, consecutive_hard_bounces, created_at, updated_at, "
        "ledger_seq, ledger_hash) VALUES (?, ?, ?, ?, ?, ?, 'DE', '{\"plan\":\"pro\"}', 'single_opt_in_user', 'consent', "
        "'2025-03-01 00:00:00+00:00', 'import', 'active', 'ok', 0, ?, ?, 1, ?)",
        [(i, f"user{i}@example{i % 97}.com", f"user{i}@example{i % 97}.com", hashlib.sha256(str(i).encode()).hexdigest(),
          f"First{i}", f"Last{i}", at, at, hashlib.sha256(body.encode()).hexdigest()) for i in ids])
    db.executemany("INSERT INTO subscriptions VALUES (?, 'newsletter', 'unconfirmed', ?)", [(i, at) for i in ids])
    db.executemany("INSERT INTO consents VALUES (?, ?, 'granted', ?)", [(i, p, at) for i in ids for p in ("newsletter", "tracking")])
    db.executemany("INSERT INTO ledger VALUES (?, 1, ?, ?, ?)", [(i, at, body, hashlib.sha256(body.encode()).hexdigest()) for i in ids])
    db.execute("COMMIT")
elapsed = time.time() - start
print(f"{n / elapsed:.0f}")
