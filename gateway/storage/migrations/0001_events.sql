-- Every analytics event: server-side page views, beacon page views (single-page
-- navigations), engagement time and custom events. One row per event; the IP is
-- already truncated (/24, /48) and the visitor key is a hash of the consent id.
-- Rows expire one month after their time; a day's partition is dropped whole.
CREATE TABLE IF NOT EXISTS events${local} ${on_cluster}
(
    time DateTime64(3, 'UTC'),
    site LowCardinality(String),
    kind Enum8('pageview' = 1, 'engagement' = 2, 'custom' = 3),
    session_id UInt64,
    visitor_key UUID,
    path String,
    query String,
    title String,
    referrer_host LowCardinality(String),
    referrer_path String,
    prev_path String,
    utm_source LowCardinality(String),
    utm_medium LowCardinality(String),
    utm_campaign LowCardinality(String),
    ip String,
    country LowCardinality(String),
    region LowCardinality(String),
    city LowCardinality(String),
    browser LowCardinality(String),
    browser_version LowCardinality(String),
    os LowCardinality(String),
    os_version LowCardinality(String),
    device LowCardinality(String),
    status UInt16,
    engagement_ms UInt32,
    name LowCardinality(String),
    props Map(String, String)
)
ENGINE = ${replicated}MergeTree
PARTITION BY toDate(time)
ORDER BY (site, toDate(time), session_id, time)
TTL toDateTime(time) + INTERVAL 1 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- cluster only
CREATE TABLE IF NOT EXISTS events ${on_cluster} AS events_local
ENGINE = Distributed(${cluster}, ${database}, events_local, sipHash64(session_id));
