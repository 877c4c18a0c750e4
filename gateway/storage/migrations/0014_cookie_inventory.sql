-- The cookie inventory: every cookie name the gateway meets, in the upstream's
-- Set-Cookie (seen_in bit 1) or the browser's Cookie header (bit 2), with no
-- visitor data and no values: when it was first and last seen, how often it was
-- passed and blocked, the longest lifetime it was set with (seconds; 0 a session
-- cookie, -1 never seen set) and its last attributes (Secure, HttpOnly, SameSite,
-- Domain). The gateway adds up what it meets in memory and inserts one row per name
-- about once a minute; the AggregatingMergeTree folds rows of a name together. The
-- category is not stored: it follows the rules in force when the inventory is read.
--
-- Names are bounded by the gateway (gateway/consent/inventory.py). Not analytics: rows
-- are partitioned by the month they were last seen in, and a month's partition goes
-- 13 months later, so a name not met for 13 months is gone (and the first_seen of a
-- name met all along is at most 13 months back). Rows of one name in several months
-- are added up when read.
CREATE TABLE IF NOT EXISTS cookie_inventory${local} ${on_cluster}
(
    site LowCardinality(String),
    name String,
    seen_in SimpleAggregateFunction(groupBitOr, UInt8),
    first_seen SimpleAggregateFunction(min, DateTime('UTC')),
    last_seen SimpleAggregateFunction(max, DateTime('UTC')),
    passed SimpleAggregateFunction(sum, UInt64),
    blocked SimpleAggregateFunction(sum, UInt64),
    lifetime SimpleAggregateFunction(max, Int64),
    flags SimpleAggregateFunction(anyLast, String)
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(last_seen)
ORDER BY (site, name)
TTL last_seen + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS cookie_inventory ${on_cluster} AS cookie_inventory_local
ENGINE = Distributed(${cluster}, ${database}, cookie_inventory_local, cityHash64(name));
