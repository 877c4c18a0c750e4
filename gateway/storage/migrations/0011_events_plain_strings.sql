-- The events table's descriptive columns become plain strings; only `site` stays
-- LowCardinality (one value per site, and the head of the sorting key).
--
-- LowCardinality pays where a table is read much and written little: the rollups
-- (stats_daily, stats_window, stats_recent) keep it. `events` is the reverse: every
-- consented page view is a row, written in parts of a few thousand, and read in bulk
-- only by the rollups' refreshes. Building a dictionary per column per part made up a
-- quarter of what the embedded engine spends on each event: inserts and merges of
-- 5,000-event batches cost 11.7-13.7 us of CPU per event with these thirteen
-- LowCardinality columns, 9.3-10.5 with plain strings (measured in-process, four runs
-- each). Grouping three such columns over three million rows reads about 8% slower
-- (68 ms against 63), and the columns take more disk: a month of rows at most.
--
-- On a table that holds rows, the parts are rewritten in the background (a mutation);
-- parts not yet rewritten read as strings all the same.
ALTER TABLE events${local} ${on_cluster}
    MODIFY COLUMN referrer_host String,
    MODIFY COLUMN utm_source String,
    MODIFY COLUMN utm_medium String,
    MODIFY COLUMN utm_campaign String,
    MODIFY COLUMN country String,
    MODIFY COLUMN region String,
    MODIFY COLUMN city String,
    MODIFY COLUMN browser String,
    MODIFY COLUMN browser_version String,
    MODIFY COLUMN os String,
    MODIFY COLUMN os_version String,
    MODIFY COLUMN device String,
    MODIFY COLUMN name String;

-- cluster only
ALTER TABLE events ${on_cluster}
    MODIFY COLUMN referrer_host String,
    MODIFY COLUMN utm_source String,
    MODIFY COLUMN utm_medium String,
    MODIFY COLUMN utm_campaign String,
    MODIFY COLUMN country String,
    MODIFY COLUMN region String,
    MODIFY COLUMN city String,
    MODIFY COLUMN browser String,
    MODIFY COLUMN browser_version String,
    MODIFY COLUMN os String,
    MODIFY COLUMN os_version String,
    MODIFY COLUMN device String,
    MODIFY COLUMN name String;
