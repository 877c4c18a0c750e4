-- The goals admins define on the dashboard (and CG_GOALS seeds): a page pattern, or
-- an event name with at most one prop match. One row per change: removing a goal
-- writes its row again with `removed` set and a higher `version`; the
-- ReplacingMergeTree keeps the newest (read with FINAL). Goals describe the site, not
-- a visitor, so the table has no TTL.
CREATE TABLE IF NOT EXISTS goals${local} ${on_cluster}
(
    site LowCardinality(String),
    id String,
    kind Enum8('page' = 1, 'event' = 2),
    target String,
    prop_key String,
    prop_value String,
    created DateTime64(3, 'UTC'),
    created_by String,
    removed UInt8,
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY (site, id);

-- cluster only
CREATE TABLE IF NOT EXISTS goals ${on_cluster} AS goals_local
ENGINE = Distributed(${cluster}, ${database}, goals_local, cityHash64(id));

-- Funnels: two to eight steps, each a goal in its written form (`/apply*`,
-- `File Download [url=*prospectus*]`), reached in order within one visit. Kept like
-- the goals: one row per change, the newest version winning, no TTL.
CREATE TABLE IF NOT EXISTS funnels${local} ${on_cluster}
(
    site LowCardinality(String),
    id String,
    name String,
    steps Array(String),
    created DateTime64(3, 'UTC'),
    created_by String,
    removed UInt8,
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY (site, id);

-- cluster only
CREATE TABLE IF NOT EXISTS funnels ${on_cluster} AS funnels_local
ENGINE = Distributed(${cluster}, ${database}, funnels_local, cityHash64(id));
