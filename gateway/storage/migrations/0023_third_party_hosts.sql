-- Third-party hosts that pages contacted without the visitor's consent, as browsers
-- report them to /_consent/csp-report (gateway/consent/host_inventory.py): the host,
-- when it was first and last reported and how often. No page, visitor or address.
-- Like the cookie inventory (0014): rows are partitioned by the month they were last
-- reported in and a month's partition goes 13 months later; rows of one host in
-- several months are added up when read.
CREATE TABLE IF NOT EXISTS third_party_hosts${local} ${on_cluster}
(
    site LowCardinality(String),
    host String,
    first_seen SimpleAggregateFunction(min, DateTime('UTC')),
    last_seen SimpleAggregateFunction(max, DateTime('UTC')),
    reports SimpleAggregateFunction(sum, UInt64)
)
ENGINE = ${replicated}AggregatingMergeTree
PARTITION BY toYYYYMM(last_seen)
ORDER BY (site, host)
TTL last_seen + INTERVAL 13 MONTH DELETE
SETTINGS ttl_only_drop_parts = 1;

-- cluster only
CREATE TABLE IF NOT EXISTS third_party_hosts ${on_cluster} AS third_party_hosts_local
ENGINE = Distributed(${cluster}, ${database}, third_party_hosts_local, cityHash64(host));
