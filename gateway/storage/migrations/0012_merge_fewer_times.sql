-- The two tables every page view lands in merge their parts ten at a time, not five.
--
-- The writer inserts about once a second, so `events` and `sessions_agg` each gain a
-- small part every second. ClickHouse's merge selector merges parts of about the same
-- size once some five of them wait (`merge_selector_base`, 5 by default), so a row is
-- rewritten once for every fivefold growth of its part; with 10 it waits for about
-- ten, and a row is rewritten fewer times. In the embedded engine those merges cost
-- about as much CPU as the inserts themselves. Measured:
--   in-process, 70 inserts of 1,550 page views a second apart, both settings at once:
--   CPU besides the insert calls (merges, and the 13 ms a second the idle engine
--   spends anyway) 25.2 ms a second with 5, 15.4 with 10;
--   in a gateway at 1,550 page views a second for 40 s, the merge threads' CPU per
--   page view 4.2-4.6 us with 5, 2.7-3.3 with 10 (two runs each).
-- A day's partition then holds a few more parts at a time (ten rather than five in
-- the first test); every query reads them all the same.
--
-- The setting is ClickHouse 24.11's or later.
ALTER TABLE events${local} ${on_cluster} MODIFY SETTING merge_selector_base = 10;

ALTER TABLE sessions_agg${local} ${on_cluster} MODIFY SETTING merge_selector_base = 10;
