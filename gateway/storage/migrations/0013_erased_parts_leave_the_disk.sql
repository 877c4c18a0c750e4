-- An erasure's rows leave the disk within seconds (gateway/privacy/purge.py).
--
-- An erasure rewrites the parts that hold the visitor's rows (ALTER TABLE ... DELETE),
-- and empties and rolls up again the rollups; each replaced part stays in the table's
-- folder, its files readable, until ClickHouse's cleanup removes it: no sooner than
-- old_parts_lifetime after it was replaced (480 s on a server by default, 0 in the
-- embedded engine), at the table's next cleanup, every cleanup_delay_period seconds
-- plus up to cleanup_delay_period_random_add, backing off to max_cleanup_delay_period
-- while there is nothing to clean (30, 10 and 300 s by default: an idle table kept a
-- replaced part for over four minutes in the embedded engine). Here, on every table
-- that holds paths or visitor keys: no lifetime, and a cleanup every second, so an
-- erasure's job can say "done" a second or two after its rewrite.
--
-- The price: old_parts_lifetime guards against a power cut in the seconds after a
-- merge, before the new part is written out, by keeping its sources. These tables
-- hold a month of analytics, and an erased visitor's rows that outlive the erasure
-- by minutes are the worse harm; the embedded engine has always run with 0.
--
-- The cleanup also runs the same on a server and on each node of a cluster; on a
-- cluster it also cleans the replication log in ZooKeeper every second.
ALTER TABLE events${local} ${on_cluster} MODIFY SETTING
    old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
    max_cleanup_delay_period = 1;

ALTER TABLE sessions_agg${local} ${on_cluster} MODIFY SETTING
    old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
    max_cleanup_delay_period = 1;

ALTER TABLE stats_daily${local} ${on_cluster} MODIFY SETTING
    old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
    max_cleanup_delay_period = 1;

ALTER TABLE stats_window${local} ${on_cluster} MODIFY SETTING
    old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
    max_cleanup_delay_period = 1;

ALTER TABLE stats_recent${local} ${on_cluster} MODIFY SETTING
    old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0,
    max_cleanup_delay_period = 1;

-- Erasures before this release used a lightweight DELETE, which only masks rows: their
-- paths stayed in the parts' files until a merge rewrote them. Rewrite those parts now.
ALTER TABLE events${local} ${on_cluster} APPLY DELETED MASK;

ALTER TABLE sessions_agg${local} ${on_cluster} APPLY DELETED MASK;
