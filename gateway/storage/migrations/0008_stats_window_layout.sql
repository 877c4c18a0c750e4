-- The merged windows of 0007_stats_daily.sql again, in a table laid out for reading a
-- few values (gateway/stats/rollup.py, gateway/stats/queries.py).
--
-- Why: a top-10 panel merges only the values that can make its top rows (a dozen of
-- 320 regions, of 2,400 cities, of 20,000 pages), but ClickHouse reads by granule. In
-- 0007's layout (256 rows a granule, each dimension's values in name order) the dozen
-- biggest regions sat among all the others, so reading their visitor and visit sketches
-- (uniqCombined64 states of up to 96 KiB each) read every region's: a third of a 30-day
-- regions panel on 10 million events (bench/dashboard.py). Here each dimension's values
-- are stored from the most visitors down, 16 rows a granule, so the rows a top-N panel
-- merges are the first granule or two of their dimension.
--
-- Same columns, spans, schedule, contents and expiry as before: a new window is merged
-- half an hour after each new day is rolled up, kept whole in its own partition (its
-- last day) and dropped two days after its last day, when a newer one has replaced it;
-- no window starts before the oldest day still in stats_daily; the page-to-page (next)
-- rows are not windowed (a navigation question reads one page's rows of each day).
--
-- The table holds nothing that stats_daily does not: dropping the old one loses
-- nothing. Until the first refresh after this migration (at the next half hour in the
-- running gateway) every question reads the rolled days from stats_daily, as it does
-- whenever no window starts with its range, and gets the same answer. Running this file
-- again does the same (tests/test_stats_rollup.py). Erasure empties the windows with
-- the rolled days (gateway.stats.rollup.rebuild_from).
DROP VIEW IF EXISTS stats_window_refresh ${on_cluster};

-- cluster only
DROP TABLE IF EXISTS stats_window ${on_cluster};

DROP TABLE IF EXISTS stats_window${local} ${on_cluster};

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
ORDER BY (site, span, dim, from_page, negate(toInt64(visitor_count)), value)
TTL last_day + INTERVAL 2 DAY DELETE
SETTINGS ttl_only_drop_parts = 1, index_granularity = 16;

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
    GROUP BY site, dim, from_page, span, value
);
