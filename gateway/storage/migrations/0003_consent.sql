-- The consent log: proof of every consent choice (GDPR article 7(1)), one row per
-- choice. Entries of one consent id form a hash chain: `seq` counts them from 0,
-- `prev_hash` is the `hash` of entry seq - 1 (empty for seq 0), `prev_time` its
-- time, and `hash` = sha256(prev_hash + the entry's canonical JSON) in hex, so a
-- changed, removed or inserted entry breaks the chain (gateway/consent/proof.py
-- verifies it). The IP is truncated (/24, /48) and there is no user agent, only
-- the browser family. `config_hash` fingerprints the banner text and the consent
-- configuration the visitor saw.
--
-- Not an analytics table: its retention is its own setting, CG_CONSENT_LOG_DAYS
-- (default: the consent lifetime plus 31 days). Each row carries the date it
-- expires, fixed when it is written, and the TTL deletes it then; rows are
-- partitioned by the month they expire, so whole parts are dropped.
CREATE TABLE IF NOT EXISTS consent_log${local} ${on_cluster}
(
    time DateTime('UTC'),
    expires DateTime('UTC'),
    site LowCardinality(String),
    consent_id String,
    seq UInt32,
    action Enum8('accept_all' = 1, 'reject_all' = 2, 'custom' = 3, 'withdraw' = 4, 'erase' = 5),
    categories Array(LowCardinality(String)),
    revision LowCardinality(String),
    config_hash LowCardinality(String),
    ip String,
    browser LowCardinality(String),
    country LowCardinality(String),
    gpc Bool,
    prev_time DateTime('UTC'),
    prev_hash String,
    hash String
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(expires)
ORDER BY (consent_id, seq)
TTL expires DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- cluster only
CREATE TABLE IF NOT EXISTS consent_log ${on_cluster} AS consent_log_local
ENGINE = Distributed(${cluster}, ${database}, consent_log_local, cityHash64(consent_id));

-- Banner outcomes without any identifier, for the dashboard's consent rates:
-- `shown` (the consent API answered must_show = true), each kind of choice, and
-- the categories a choice granted; `gpc` says whether the visitor sent Sec-GPC.
-- One row per outcome is inserted with count = 1 and the SummingMergeTree adds up
-- rows of the same hour, so the table stays small. Opt-in rate of a category:
-- sumIf(count, has(categories, 'analytics')) / sumIf(count, outcome IN choices).
--
-- Kept 13 months, not one: these are counts, not personal data (no id, no IP, no
-- browser, hour granularity), and 13 months covers the longest consent lifetime
-- allowed (CNIL) plus the same month a year earlier for comparison.
CREATE TABLE IF NOT EXISTS consent_counts${local} ${on_cluster}
(
    hour DateTime('UTC'),
    site LowCardinality(String),
    outcome Enum8(
        'shown' = 1, 'accept_all' = 2, 'reject_all' = 3, 'custom' = 4, 'withdraw' = 5,
        'erase' = 6
    ),
    categories Array(LowCardinality(String)),
    gpc Bool,
    count UInt64
)
ENGINE = ${replicated}SummingMergeTree(count)
PARTITION BY toYYYYMM(hour)
ORDER BY (site, hour, outcome, categories, gpc)
TTL hour + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- cluster only
CREATE TABLE IF NOT EXISTS consent_counts ${on_cluster} AS consent_counts_local
ENGINE = Distributed(${cluster}, ${database}, consent_counts_local, rand());
