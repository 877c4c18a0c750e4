-- Dashboard accounts. One row per change: a ReplacingMergeTree keeps, per email,
-- the row with the highest version, and drops the account when that row has
-- deleted = 1 (read with FINAL). Accounts never expire, so this table has no TTL;
-- it holds staff e-mail addresses and argon2 hashes, never visitors' data.
CREATE TABLE IF NOT EXISTS users${local} ${on_cluster}
(
    email String,
    password_hash String,
    role Enum8('viewer' = 1, 'admin' = 2),
    created DateTime64(3, 'UTC'),
    updated DateTime64(3, 'UTC'),
    deleted UInt8,
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version, deleted)
ORDER BY email;

-- cluster only
CREATE TABLE IF NOT EXISTS users ${on_cluster} AS users_local
ENGINE = Distributed(${cluster}, ${database}, users_local, cityHash64(email));

-- Who did what on the admin side: logins (failed ones too), exports, account
-- changes. The address is the actor's truncated IP (/24, /48), like everywhere.
-- Kept one month, like every other log the gateway writes: the organisations
-- running it promise "we keep log files for a maximum of one month", and this
-- log names staff and their networks. Export it (CSV on the audit page) to keep
-- it longer under your own retention policy.
CREATE TABLE IF NOT EXISTS audit_log${local} ${on_cluster}
(
    time DateTime64(3, 'UTC'),
    actor String,
    action LowCardinality(String),
    target String,
    ip String,
    outcome LowCardinality(String),
    detail String
)
ENGINE = ${replicated}MergeTree
PARTITION BY toDate(time)
ORDER BY time
TTL toDateTime(time) + INTERVAL 1 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS audit_log ${on_cluster} AS audit_log_local
ENGINE = Distributed(${cluster}, ${database}, audit_log_local, rand());
