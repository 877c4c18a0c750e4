-- Roles and stats API tokens per site. An account's `sites` lists the site ids it
-- may see; empty means every site, which is what accounts made before this
-- migration keep. A token's `sites` lists the sites it reads; `all_sites` = 1 marks
-- one made with `token create --all-sites`. A token with neither (every token made
-- before this migration) keeps working while the deployment serves one site and is
-- refused once it serves several.
ALTER TABLE users${local} ${on_cluster}
    ADD COLUMN IF NOT EXISTS sites Array(String);

-- cluster only
ALTER TABLE users ${on_cluster}
    ADD COLUMN IF NOT EXISTS sites Array(String);

ALTER TABLE api_tokens${local} ${on_cluster}
    ADD COLUMN IF NOT EXISTS sites Array(String),
    ADD COLUMN IF NOT EXISTS all_sites UInt8;

-- cluster only
ALTER TABLE api_tokens ${on_cluster}
    ADD COLUMN IF NOT EXISTS sites Array(String),
    ADD COLUMN IF NOT EXISTS all_sites UInt8;
