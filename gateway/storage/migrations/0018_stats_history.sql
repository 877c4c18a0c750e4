-- The anonymous history: per site and day, the counts of what the dashboard shows, kept
-- 25 months for year-on-year questions (gateway/stats/history_rollup.py writes it,
-- gateway/stats/history.py reads it).
--
-- dim    value                        counted
-- ''     ''                           the day's visitors, visits, page views
-- visit  ''                           visits (sessions), bounces, seconds of visit
-- page, region, utm_medium, utm_campaign
--                                     visitors, visits, page views
-- entry_page, exit_page, source, utm_source, country, browser, os, device
--                                     visitors, visits, page views, bounces, seconds
--
-- Counts only: plain numbers, no sketch, no visitor key, no session id, no address. A
-- value's row holds that day's unique visitors of it; a value seen by fewer than k
-- (CG_STATS_MIN_VISITORS) visitors that day is folded into the dimension's `(other)`
-- row, and a row still under k, `(other)` or a day's totals, is not stored at all. So
-- no row is about one visitor, and an erasure has nothing to take from here.
--
-- A day is written once stats_daily holds it, by every gateway on its own (several
-- workers or machines may write the same day at the same moment): the rows of one day
-- are the same whoever computes them, and the ReplacingMergeTree keeps one of each
-- (site, dim, day, value); the reads use FINAL. On a cluster, the rows of a site's day
-- all go to one shard, so the copies meet there.
CREATE TABLE IF NOT EXISTS stats_history${local} ${on_cluster}
(
    site LowCardinality(String),
    day Date,
    dim LowCardinality(String),
    value String,
    visitors UInt64,
    visits UInt64,
    pageviews UInt64,
    sessions UInt64,
    bounces UInt64,
    duration UInt64
)
ENGINE = ${replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, dim, day, value)
TTL day + INTERVAL 25 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS stats_history ${on_cluster} AS stats_history_local
ENGINE = Distributed(${cluster}, ${database}, stats_history_local, cityHash64(site, day));
