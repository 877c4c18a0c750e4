-- Daily rollups for the dashboard and the stats API (gateway/stats/rollup.py).
-- A 30-day dashboard over the raw events reads every event of the month once per
-- panel (seconds on 10 million events); these rows answer the same questions from
-- one row per site, day, dimension and value.
--
-- dim   value                              from  counted
-- ''    ''                                 events  visitors, visits (uniq), page views
-- page  the path of page views             events  visitors, visits (uniq), page views
-- next  a page viewed after from_page      events  visitors, visits (uniq), page views
-- region, city, utm_medium, utm_campaign   events  visitors, visits (uniq), page views
-- visit ''                                 sessions  sessions, bounces, duration
-- entry_page, exit_page, source (the referrer host, '' for direct), utm_source,
-- country, browser, os, device              sessions  visitors, sessions, page views,
--                                                     bounces, duration
-- Event rows count an event in the day it happened; session rows count a visit in the
-- day it started (sessions_agg's start_date), as the raw queries do.
--
-- Days are rolled up once they are over, never while they still change: a
-- refreshable view runs every hour and appends every day after the newest one
-- already here and before today (in UTC) less three hours, so yesterday arrives
-- by 03:00 the next day, once its visits have ended. The queries read the rolled
-- days from here and the rest (today, and yesterday until 03:00) from the raw
-- tables, in the same query, so the answer is the same whichever serves a day.
-- The first refresh, at the first full hour after this migration, in the running
-- gateway (not in a short `consent-gateway migrate`), rolls up every finished day
-- already stored; until then every question is read raw, as before. A refresh
-- appends as it goes: if the process stops in the middle of one, the days it was
-- writing stay incomplete until gateway.stats.rollup.rebuild_from rolls them up
-- again.
--
-- Privacy: the uniqCombined64 states are sketches of visitor keys and session ids (their
-- 64-bit hashes), so a row can tell whether a known visitor was counted; rows
-- expire after one month like the events (and follow CG_ANALYTICS_RETENTION_DAYS),
-- and an erasure drops the rolled days from the visitor's first one on and rolls
-- them up again from the events it has cleaned (gateway/privacy/erasure.py).
CREATE TABLE IF NOT EXISTS stats_daily${local} ${on_cluster}
(
    site LowCardinality(String),
    day Date,
    dim LowCardinality(String),
    from_page String,
    value String,
    visitor_count SimpleAggregateFunction(max, UInt64),
    visitors AggregateFunction(uniqCombined64, UUID),
    visits AggregateFunction(uniqCombined64, UInt64),
    pageviews SimpleAggregateFunction(sum, UInt64),
    sessions SimpleAggregateFunction(sum, UInt64),
    bounces SimpleAggregateFunction(sum, UInt64),
    duration SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY day
ORDER BY (site, dim, from_page, day, value)
TTL day + INTERVAL 1 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;

-- cluster only
CREATE TABLE IF NOT EXISTS stats_daily ${on_cluster} AS stats_daily_local
ENGINE = Distributed(${cluster}, ${database}, stats_daily_local, rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS stats_daily_refresh ${on_cluster}
REFRESH EVERY 1 HOUR APPEND
TO stats_daily${local}
EMPTY
AS WITH
    (SELECT max(day) FROM stats_daily${local}) AS rolled,
    toDate(now() - INTERVAL 3 HOUR) AS open_day
SELECT
    site,
    toDate(time) AS day,
    row.1 AS dim,
    row.2 AS from_page,
    row.3 AS value,
    uniqCombined64(visitor_key) AS visitor_count,
    uniqCombined64State(visitor_key) AS visitors,
    uniqCombined64State(session_id) AS visits,
    countIf(kind = 'pageview') AS pageviews,
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
WHERE toDate(time) > rolled AND toDate(time) < open_day
GROUP BY site, day, dim, from_page, value
UNION ALL
WITH
    (SELECT max(day) FROM stats_daily${local}) AS rolled,
    toDate(now() - INTERVAL 3 HOUR) AS open_day
SELECT
    site,
    start_date AS day,
    row.1 AS dim,
    '' AS from_page,
    row.2 AS value,
    uniqCombined64(visitor_any) AS visitor_count,
    uniqCombined64State(visitor_any) AS visitors,
    uniqCombined64State(session_id) AS visits,
    sum(page_count) AS pageviews,
    count() AS sessions,
    countIf(bounce) AS bounces,
    sum(length) AS duration
FROM (
    SELECT
        site,
        start_date,
        session_id,
        visitor_any,
        pageviews AS page_count,
        pageviews <= 1 AND interactions = 0 AS bounce,
        toUInt64(dateDiff('second', first_time, last_time)) AS length,
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
    WHERE start_date > rolled AND start_date < open_day
)
ARRAY JOIN arrayFilter(row -> row.1 != '-', rows) AS row
GROUP BY site, day, dim, from_page, value;

-- The dashboard's usual ranges, merged ahead: a 30-day page panel would otherwise
-- merge a state per page and day (half a million on 10 million events).
-- Half an hour after each new day is rolled up, the states of the windows ending
-- with it are merged into one row per value: spans 28 and 5 are the last 30 and 7 days less
-- today, 27 and 4 the same until yesterday is rolled up (00:00 to 03:00 UTC). A
-- query whose range starts on a window's first day reads the newest window and
-- the days after it. A window never starts before the oldest day still in
-- stats_daily, so a shortened retention (CG_ANALYTICS_RETENTION_DAYS) holds here
-- too, and it is dropped two days after its last day (so no row is older than 30
-- days), when a newer one has replaced it. The page-to-page (next) rows are not windowed: a navigation
-- query reads one page's rows only.
CREATE TABLE IF NOT EXISTS stats_window${local} ${on_cluster}
(
    site LowCardinality(String),
    span UInt8,
    first_day Date,
    last_day Date,
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
PARTITION BY last_day
ORDER BY (site, span, dim, from_page, value)
TTL last_day + INTERVAL 2 DAY DELETE
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256;

-- cluster only
CREATE TABLE IF NOT EXISTS stats_window ${on_cluster} AS stats_window_local
ENGINE = Distributed(${cluster}, ${database}, stats_window_local, rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS stats_window_refresh ${on_cluster}
REFRESH EVERY 1 HOUR OFFSET 30 MINUTE APPEND
TO stats_window${local}
EMPTY
AS WITH
    (SELECT max(day) FROM stats_daily${local}) AS rolled
SELECT
    site,
    span,
    rolled - span AS first_day,
    rolled AS last_day,
    dim,
    from_page,
    value,
    finalizeAggregation(visitor_states) AS visitor_count,
    visitor_states AS visitors,
    visit_states AS visits,
    pageviews,
    sessions,
    bounces,
    duration
FROM (
    SELECT
        site,
        span,
        dim,
        from_page,
        value,
        uniqCombined64MergeState(visitors) AS visitor_states,
        uniqCombined64MergeState(visits) AS visit_states,
        sum(pageviews) AS pageviews,
        sum(sessions) AS sessions,
        sum(bounces) AS bounces,
        sum(duration) AS duration
    FROM stats_daily${local}
    ARRAY JOIN [28, 27, 5, 4] AS span
    WHERE dim != 'next' AND day >= rolled - span AND day <= rolled
        AND rolled - span >= (SELECT min(day) FROM stats_daily${local})
        AND rolled > (SELECT max(last_day) FROM stats_window${local})
    GROUP BY site, span, dim, from_page, value
);
