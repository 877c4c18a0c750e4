-- Funnel steps per finished day, so the dashboard's funnel panel reads today raw and
-- the rest of its range from here (gateway/stats/funnel_days.py).
--
-- Why: a funnel is windowFunnel over every visit of the range that reached a step:
-- on 10 million events a 30-day funnel read a month of step events per page load
-- (hundreds of ms, bench/dashboard.py). A day that is over never changes, so its
-- figures are kept once computed.
--
-- One row per site, funnel (its id and a hash of its steps: an edited funnel starts
-- afresh), day and step: the uniqCombined64 states of the visitors and visits whose
-- first step event was that day and that reached the step, counting the visit's step
-- events of that day and the next. Step 0 marks a day as computed (empty states), so a
-- day nobody reached a step on is not computed again. Rows are written on demand by
-- the first question that needs a finished day; two gateways writing the same day at
-- once write the same states, which the AggregatingMergeTree merges into one.
--
-- Privacy: the states are sketches of visitor keys and session ids, like stats_daily's,
-- so rows expire after one month like the events (and follow
-- CG_ANALYTICS_RETENTION_DAYS), and an erasure drops the days from the visitor's first
-- one on (gateway/privacy/erasure.py); the next question computes them again from the
-- cleaned events.
CREATE TABLE IF NOT EXISTS funnel_days${local} ${on_cluster}
(
    site LowCardinality(String),
    funnel String,
    definition String,
    day Date,
    step UInt8,
    visitors AggregateFunction(uniqCombined64, UUID),
    visits AggregateFunction(uniqCombined64, UInt64)
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY day
ORDER BY (site, funnel, definition, day, step)
TTL day + INTERVAL 1 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1, index_granularity = 256, old_parts_lifetime = 0,
    cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, max_cleanup_delay_period = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS funnel_days ${on_cluster} AS funnel_days_local
ENGINE = Distributed(${cluster}, ${database}, funnel_days_local, cityHash64(site, funnel, day));
