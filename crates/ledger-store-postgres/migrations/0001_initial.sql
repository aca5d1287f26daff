-- Custody ledger, schema version 1. Applied by ledger-store-postgres inside one transaction
-- and recorded in schema_migrations; never edited once released (add a new file instead).

-- Format version and log origin, under the names `format` and `origin`.
CREATE TABLE custody_meta (
    name text PRIMARY KEY,
    value bytea NOT NULL
);

-- The coordinator row: the log's size and the hash of its last entry. Every append reads it
-- FOR UPDATE and moves it with a compare-and-set on `size` in the transaction that writes
-- its entries, so two writers can never both extend the same head.
CREATE TABLE custody_head (
    id smallint PRIMARY KEY CHECK (id = 1),
    size bigint NOT NULL CHECK (size >= 0),
    last bytea NOT NULL
);

-- The log: the exact canonical bytes of each entry, by position.
CREATE TABLE custody_entries (
    seq bigint PRIMARY KEY CHECK (seq >= 0),
    bytes bytea NOT NULL
);

-- Every other record (state, indexes, Merkle nodes, checkpoints) under the keys and value
-- encodings of ledger-store's `keys` and `records` modules; byte order is key order.
CREATE TABLE custody_records (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);
