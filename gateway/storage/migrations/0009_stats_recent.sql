-- The rollup of the hours since the last rolled day, replaced every five minutes
-- (gateway/stats/rollup.py, gateway/stats/queries.py).
--
-- Why: stats_daily (0007) holds a day once it is over, by 03:00 UTC the next day, so
-- every dashboard question read today (and, until 03:00, yesterday too) from the raw
-- tables, once or twice per panel. That part grew through the day: on 10 million events
-- (bench/dashboard.py) the whole 30-day page took 720 ms with its newest events at 16:13
-- and over a second at 19:00, and between midnight and 03:00 nearly two days were raw.
--
-- stats_recent holds the same rows as stats_daily, per day, for every day after the
-- newest one rolled up (after), counting every event before a moment (upto) a minute
-- before the refresh, and every visit that started before it, as it stood at the
-- refresh. A refreshable view computes it whole every five minutes and swaps it in at
-- once, so the table always comes from one refresh: an event that reached the engine
-- late (from the spool, after an outage) is counted by the next refresh, and there are
-- no partial appends to repair. The queries read, for the days after the newest rolled
-- one, these rows and the raw events from upto on (and the visits that started from
-- upto on), so a few minutes of events are read raw whatever the hour.
--
-- A visit still running at a refresh keeps its exit page, length, page count and
-- bounce as they stood then until the next refresh: up to five minutes behind in the
-- visit panels, never in the page views, visitors and visits, which count every event.
--
-- The rows of both rollups come from one view, rollup_rows, so a dimension is added in
-- one place; stats_daily's hourly refresh is made again over it, with the same schedule
-- and the same rows. Each refresh is one SELECT with one cut, so its event rows and its
-- visit rows end at the same moment.
--
-- On a cluster the table is made but never filled: each shard would cut its refresh at
-- its own moment, and no one marker could match them all. Every query then finds no
-- refresh and reads the hours after the newest rolled day raw, as before this migration.

-- Privacy: the same sketches as stats_daily, gone at the next refresh after the events
-- they came from; an erasure empties the table before it rolls the days up again
-- (gateway.stats.rollup.rebuild_from).
CREATE VIEW IF NOT EXISTS rollup_rows${local} ${on_cluster}
AS SELECT
    site,
    time AS at,
    toDate(time) AS day,
    row.1 AS dim,
    row.2 AS from_page,
    row.3 AS value,
    visitor_key,
    session_id,
    toUInt64(kind = 'pageview') AS pageviews,
    toUInt64(0) AS sessions,
    toUInt64(0) AS bounces,
    toUInt64(0) AS duration
FROM events${local}
ARRAY JOIN arrayFilter(row -> row.1 != '-', [
    ('', '', ''),
    (if(kind = 'pageview', 'page', '-'), '', path),
    (if(kind = 'pageview' AND prev_path != '', 'next', '-'), prev_path, path),
    ('region', '', toString(region)),
    ('city', '', toString(city)),
    (if(utm_medium != '', 'utm_medium', '-'), '', toString(utm_medium)),
    (if(utm_campaign != '', 'utm_campaign', '-'), '', toString(utm_campaign))
]) AS row
UNION ALL
SELECT
    site,
    first_time AS at,
    start_date AS day,
    row.1 AS dim,
    '' AS from_page,
    row.2 AS value,
    visitor_any AS visitor_key,
    session_id,
    page_count AS pageviews,
    toUInt64(1) AS sessions,
    toUInt64(page_count <= 1 AND interactions = 0) AS bounces,
    toUInt64(dateDiff('second', first_time, last_time)) AS duration
FROM (
    SELECT
        site,
        start_date,
        first_time,
        last_time,
        session_id,
        visitor_any,
        pageviews AS page_count,
        interactions,
        finalizeAggregation(utm_source_state) AS utm_source,
        [
            ('visit', ''),
            ('entry_page', finalizeAggregation(entry_state)),
            ('exit_page', finalizeAggregation(exit_state)),
            ('source', finalizeAggregation(referrer_state)),
            (if(utm_source != '', 'utm_source', '-'), utm_source),
            ('country', country_any),
            ('browser', browser_any),
            ('os', os_any),
            ('device', device_any)
        ] AS rows
    FROM sessions_agg${local} FINAL
)
ARRAY JOIN arrayFilter(row -> row.1 != '-', rows) AS row;

DROP VIEW IF EXISTS stats_daily_refresh ${on_cluster};

CREATE MATERIALIZED VIEW IF NOT EXISTS stats_daily_refresh ${on_cluster}
REFRESH EVERY 1 HOUR APPEND
TO stats_daily${local}
EMPTY
AS WITH
    (SELECT max(day) FROM stats_daily${local}) AS rolled,
    toDate(now() - INTERVAL 3 HOUR) AS open_day
SELECT
    site,
    day,
    dim,
    from_page,
    value,
    uniqCombined64(visitor_key) AS visitor_count,
    uniqCombined64State(visitor_key) AS visitors,
    uniqCombined64State(session_id) AS visits,
    sum(pageviews) AS pageviews,
    sum(sessions) AS sessions,
    sum(bounces) AS bounces,
    sum(duration) AS duration
FROM rollup_rows${local}
WHERE day > rolled AND day < open_day
GROUP BY site, day, dim, from_page, value;

CREATE TABLE IF NOT EXISTS stats_recent${local} ${on_cluster}
(
    site LowCardinality(String),
    upto DateTime64(3, 'UTC'),
    after Date,
    day Date,
    dim LowCardinality(String),
    from_page String,
    value String,
    visitor_count UInt64,
    visitors AggregateFunction(uniqCombined64, UUID),
    visits AggregateFunction(uniqCombined64, UInt64),
    pageviews UInt64,
    sessions UInt64,
    bounces UInt64,
    duration UInt64
)
ENGINE = ${replicated}MergeTree
PARTITION BY upto
ORDER BY (site, dim, from_page, day, value)
TTL toDateTime(upto) + INTERVAL 10 MINUTE DELETE
SETTINGS ttl_only_drop_parts = 1, merge_with_ttl_timeout = 60, index_granularity = 256;

-- cluster only
CREATE TABLE IF NOT EXISTS stats_recent ${on_cluster} AS stats_recent_local
ENGINE = Distributed(${cluster}, ${database}, stats_recent_local, rand());

-- single node only
CREATE MATERIALIZED VIEW IF NOT EXISTS stats_recent_refresh
REFRESH EVERY 5 MINUTE APPEND
TO stats_recent
EMPTY
AS WITH
    (SELECT max(day) FROM stats_daily) AS rolled,
    now64(3, 'UTC') - INTERVAL 1 MINUTE AS cut
SELECT
    site,
    cut AS upto,
    rolled AS after,
    day,
    dim,
    from_page,
    value,
    uniqCombined64(visitor_key) AS visitor_count,
    uniqCombined64State(visitor_key) AS visitors,
    uniqCombined64State(session_id) AS visits,
    sum(pageviews) AS pageviews,
    sum(sessions) AS sessions,
    sum(bounces) AS bounces,
    sum(duration) AS duration
FROM rollup_rows
WHERE day > rolled AND at < cut
GROUP BY site, day, dim, from_page, value
SETTINGS max_insert_threads = 1, min_insert_block_size_rows = 1000000000000,
    min_insert_block_size_bytes = 1000000000000;
