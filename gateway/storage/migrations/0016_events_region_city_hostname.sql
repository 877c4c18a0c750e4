-- Three columns Plausible's properties need, kept from now on:
--   region_code  the region's ISO 3166-2 code ("US-MD", "GB-ENG"): visit:region
--   city_id      the city's GeoNames id (4347778), 0 when unknown: visit:city
--   hostname     the host the page was served under, without port or "www.": event:hostname
-- The geolocation database gives the first two where its schema has them (MaxMind's
-- City files do, the flat DB-IP files do not). Rows stored before have them empty
-- (or 0): a filter on them does not match such rows and a breakdown leaves them out,
-- while visit:region_name and visit:city_name keep reading the names they have.
-- Adding columns rewrites nothing: old parts read the defaults.
ALTER TABLE events${local} ${on_cluster}
    ADD COLUMN IF NOT EXISTS region_code String,
    ADD COLUMN IF NOT EXISTS city_id UInt32,
    ADD COLUMN IF NOT EXISTS hostname String;

-- cluster only
ALTER TABLE events ${on_cluster}
    ADD COLUMN IF NOT EXISTS region_code String,
    ADD COLUMN IF NOT EXISTS city_id UInt32,
    ADD COLUMN IF NOT EXISTS hostname String;
