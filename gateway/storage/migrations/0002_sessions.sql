-- Sessions, built by ClickHouse from the events as they are inserted: a
-- materialized view turns each inserted block into partial aggregate states
-- per session, an AggregatingMergeTree merges them in the background, and the
-- `sessions` view finalizes them, so `SELECT * FROM sessions` gives plain values.
-- Insert-only and order-free: no session state is kept in the gateway.
CREATE TABLE IF NOT EXISTS sessions_agg${local} ${on_cluster}
(
    site LowCardinality(String),
    start_date Date,
    session_id UInt64,
    visitor_any SimpleAggregateFunction(any, UUID),
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    entry_state AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    exit_state AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    referrer_state AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    utm_source_state AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    country_any SimpleAggregateFunction(any, String),
    device_any SimpleAggregateFunction(any, String),
    browser_any SimpleAggregateFunction(any, String),
    os_any SimpleAggregateFunction(any, String),
    pageviews SimpleAggregateFunction(sum, UInt64),
    interactions SimpleAggregateFunction(sum, UInt64),
    events_total SimpleAggregateFunction(sum, UInt64),
    engaged_ms SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY start_date
ORDER BY (site, start_date, session_id)
TTL start_date + INTERVAL 1 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000;

-- cluster only
CREATE TABLE IF NOT EXISTS sessions_agg ${on_cluster} AS sessions_agg_local
ENGINE = Distributed(${cluster}, ${database}, sessions_agg_local, sipHash64(session_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv${local} ${on_cluster}
TO sessions_agg${local}
AS SELECT
    site,
    toDate(min(time)) AS start_date,
    session_id,
    any(visitor_key) AS visitor_any,
    min(time) AS first_time,
    max(time) AS last_time,
    argMinState(path, time) AS entry_state,
    argMaxState(path, time) AS exit_state,
    argMinState(toString(referrer_host), time) AS referrer_state,
    argMinState(toString(utm_source), time) AS utm_source_state,
    any(toString(country)) AS country_any,
    any(toString(device)) AS device_any,
    any(toString(browser)) AS browser_any,
    any(toString(os)) AS os_any,
    countIf(kind = 'pageview') AS pageviews,
    countIf(kind = 'custom') AS interactions,
    count() AS events_total,
    sum(engagement_ms) AS engaged_ms
FROM events${local}
GROUP BY site, session_id;

-- One row per session with plain values. duration is whole seconds from the
-- first to the last event (engagement beacons, sent when a page is left, make
-- the last page count); a bounce is a session of at most one page view and no
-- custom event.
CREATE VIEW IF NOT EXISTS sessions ${on_cluster}
AS SELECT
    site,
    session_id,
    any(visitor_any) AS visitor_key,
    min(first_time) AS start,
    max(last_time) AS end,
    toUInt32(dateDiff('second', start, end)) AS duration,
    argMinMerge(entry_state) AS entry_page,
    argMaxMerge(exit_state) AS exit_page,
    sum(pageviews) AS page_count,
    sum(interactions) AS custom_events,
    sum(events_total) AS event_count,
    sum(engaged_ms) AS engagement_ms,
    page_count <= 1 AND custom_events = 0 AS bounce,
    argMinMerge(referrer_state) AS referrer_host,
    argMinMerge(utm_source_state) AS utm_source,
    any(country_any) AS country,
    any(device_any) AS device,
    any(browser_any) AS browser,
    any(os_any) AS os
FROM sessions_agg
GROUP BY site, session_id;
