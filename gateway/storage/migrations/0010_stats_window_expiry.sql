-- A merged window (0008_stats_window_layout.sql) was dropped two days after its last
-- day, at midnight UTC, but the next one is merged only once the day before has been
-- rolled up, after 03:00 UTC (stats_daily_refresh leaves a day open for three hours,
-- the window refresh follows at half past). So from 00:00 to about 03:30 every night
-- there was no window at all, and every 7- and 30-day question read each rolled day
-- from stats_daily; a window merged in those hours (its last day two days back) was
-- dropped the moment it was written.
--
-- Kept 54 hours after its last day instead: until 06:00 UTC, by when the next one has
-- replaced it with hours to spare. Its oldest day is then 30 days and 6 hours old, as
-- against 30 days before; the rows are per-value sums and sketches, never a visitor's.
ALTER TABLE stats_window${local} ${on_cluster}
MODIFY TTL toDateTime(last_day, 'UTC') + INTERVAL 54 HOUR DELETE;
