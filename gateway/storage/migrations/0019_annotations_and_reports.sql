-- Annotations: dated notes admins add on the dashboard ("Open evening"), marked on
-- the charts, listed by the stats API and in the email reports. One row per change,
-- like the goals (0015): removing one writes its row again with `removed` set and a
-- higher `version`; the ReplacingMergeTree keeps the newest (read with FINAL).
-- They describe the site, not a visitor, so the table has no TTL.
CREATE TABLE IF NOT EXISTS annotations${local} ${on_cluster}
(
    site LowCardinality(String),
    id String,
    day Date,
    text String,
    created DateTime64(3, 'UTC'),
    created_by String,
    removed UInt8,
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY (site, id);

-- cluster only
CREATE TABLE IF NOT EXISTS annotations ${on_cluster} AS annotations_local
ENGINE = Distributed(${cluster}, ${database}, annotations_local, cityHash64(id));

-- The email reports' recipient lists: a name, weekly or monthly, the addresses. Kept
-- like the goals (the newest version wins); an unsubscribe writes the list again
-- without the address. Kept until removed: the addresses are the admins' to manage.
CREATE TABLE IF NOT EXISTS report_lists${local} ${on_cluster}
(
    site LowCardinality(String),
    id String,
    name String,
    period Enum8('week' = 1, 'month' = 2),
    recipients Array(String),
    created DateTime64(3, 'UTC'),
    created_by String,
    removed UInt8,
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY (site, id);

-- cluster only
CREATE TABLE IF NOT EXISTS report_lists ${on_cluster} AS report_lists_local
ENGINE = Distributed(${cluster}, ${database}, report_lists_local, cityHash64(id));

-- One sender per report however many workers and machines: before sending a list's
-- report for a period, each scheduler writes a claim, waits, and reads the claims
-- back; the earliest (claimed, claimant) sends, the others stand down. A plain
-- MergeTree, so every claim stays visible; a year is plenty to stop a resend.
CREATE TABLE IF NOT EXISTS report_claims${local} ${on_cluster}
(
    site LowCardinality(String),
    list_id String,
    period_start Date,
    claimant String,
    claimed DateTime64(3, 'UTC')
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(claimed)
ORDER BY (site, list_id, period_start, claimed, claimant)
TTL toDateTime(claimed) + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS report_claims ${on_cluster} AS report_claims_local
ENGINE = Distributed(${cluster}, ${database}, report_claims_local, cityHash64(list_id));
