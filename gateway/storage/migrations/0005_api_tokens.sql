-- Bearer tokens of the stats API (`consent-gateway token create NAME`). Only the
-- sha256 of a token is kept: a token is 32 random bytes, so its hash can be
-- neither reversed nor guessed, and a leaked table gives no working token. One row
-- per change: revoking writes the token's row again with `revoked` set and a
-- higher `version`, and the ReplacingMergeTree keeps the newest (read with FINAL),
-- so a revoked token stays listed as revoked. Tokens are staff credentials, not
-- visitors' data, and must outlive a month, so this table has no TTL.
CREATE TABLE IF NOT EXISTS api_tokens${local} ${on_cluster}
(
    id String,
    name String,
    token_hash String,
    created DateTime64(3, 'UTC'),
    created_by String,
    revoked Nullable(DateTime64(3, 'UTC')),
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY id;

-- cluster only
CREATE TABLE IF NOT EXISTS api_tokens ${on_cluster} AS api_tokens_local
ENGINE = Distributed(${cluster}, ${database}, api_tokens_local, cityHash64(id));
