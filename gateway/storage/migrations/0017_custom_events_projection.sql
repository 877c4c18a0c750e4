-- The goal, custom event, download and broken-link panels read custom events only:
-- 4 % of the rows, spread over every granule of the events' order (site, day, visit),
-- so each of those questions read a month of every event's columns (hundreds of
-- milliseconds on 10 million events, bench/dashboard.py). This projection keeps the
-- columns those questions read in a second order, by site, kind, name and time, so
-- ClickHouse reads a month of one site's custom events (of one name) from a few
-- granules; it picks the projection on its own when a query reads only these columns.
-- Page goals are read from the page rollups instead (gateway/stats/conversions.py).
--
-- The price is those columns written twice (a month of them, with the same TTL). An
-- erasure's ALTER TABLE ... DELETE rewrites the projection with its part, so an erased
-- visitor leaves it too. Parts written before this migration get it in the background
-- (MATERIALIZE is a mutation); until then ClickHouse reads them as before.
ALTER TABLE events${local} ${on_cluster}
    ADD PROJECTION IF NOT EXISTS custom_events
    (SELECT site, kind, name, time, props, visitor_key, session_id, path, prev_path
     ORDER BY site, kind, name, time);

ALTER TABLE events${local} ${on_cluster} MATERIALIZE PROJECTION custom_events;
