-- The regime that applied to a consent choice or banner outcome (issue #30, the UK's
-- statistics exception): `opt-in`, `opt-out` or `none` when every category had it, else
-- `category=regime` pairs, sorted (`analytics=opt-out,marketing=opt-in,preferences=opt-out`);
-- empty in rows written before this migration and for erasures. The consent panel and
-- the stats API split their figures by it. And a new choice, `object`: the visitor
-- refused what an opt-out regime runs without asking.
--
-- consent_log is part of the public contract: columns are added, never renamed. In
-- consent_counts the regime joins the sorting key at its end, so that the summing merges
-- add up only rows of the same regime (a column joining the key takes no DEFAULT
-- expression; a String's own default is the empty string).
ALTER TABLE consent_log${local} ${on_cluster}
    ADD COLUMN IF NOT EXISTS regime LowCardinality(String) DEFAULT '',
    MODIFY COLUMN action Enum8(
        'accept_all' = 1, 'reject_all' = 2, 'custom' = 3, 'withdraw' = 4, 'erase' = 5,
        'object' = 6
    );

-- cluster only
ALTER TABLE consent_log ${on_cluster}
    ADD COLUMN IF NOT EXISTS regime LowCardinality(String) DEFAULT '',
    MODIFY COLUMN action Enum8(
        'accept_all' = 1, 'reject_all' = 2, 'custom' = 3, 'withdraw' = 4, 'erase' = 5,
        'object' = 6
    );

ALTER TABLE consent_counts${local} ${on_cluster}
    ADD COLUMN IF NOT EXISTS regime LowCardinality(String),
    MODIFY ORDER BY (site, hour, outcome, categories, gpc, regime);

ALTER TABLE consent_counts${local} ${on_cluster}
    MODIFY COLUMN outcome Enum8(
        'shown' = 1, 'accept_all' = 2, 'reject_all' = 3, 'custom' = 4, 'withdraw' = 5,
        'erase' = 6, 'object' = 7
    );

-- cluster only
ALTER TABLE consent_counts ${on_cluster}
    ADD COLUMN IF NOT EXISTS regime LowCardinality(String) DEFAULT '',
    MODIFY COLUMN outcome Enum8(
        'shown' = 1, 'accept_all' = 2, 'reject_all' = 3, 'custom' = 4, 'withdraw' = 5,
        'erase' = 6, 'object' = 7
    );
