-- usagestream.materializer.read.entities: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

-- ENTITY_MAPS_SQL  -- $1 kinds, $2 ids (pairs)
SELECT e.entity, e.id, e.data FROM entities e JOIN unnest($1::text[], $2::text[]) AS k(entity, id) ON e.entity = k.entity AND e.id = k.id WHERE NOT e.deleted AND e.data IS NOT NULL

-- USER_BY_ID_SQL
SELECT e.data, (e.data ->> 'quota_usd')::numeric AS quota_usd, (e.data ->> 'used_usd')::numeric AS used_usd FROM entities e WHERE e.entity = 'user' AND e.id = $1 AND NOT e.deleted AND e.data IS NOT NULL

-- MANAGEMENT_TOKEN_SQL
SELECT e.id, e.data FROM entities e WHERE e.entity = 'management_token' AND e.data ->> 'token_sha256' = $1 AND NOT e.deleted AND e.data IS NOT NULL ORDER BY e.id LIMIT 1

-- CREDENTIALS_SQL  -- $1 user ids, $2 token digests
SELECT e.entity, e.id, e.data FROM entities e WHERE e.entity = 'user' AND e.id = ANY($1::text[]) AND NOT e.deleted AND e.data IS NOT NULL UNION ALL (SELECT DISTINCT ON (e.data ->> 'token_sha256') e.entity, e.id, e.data FROM entities e WHERE e.entity = 'management_token' AND e.data ->> 'token_sha256' = ANY($2::text[]) AND NOT e.deleted AND e.data IS NOT NULL ORDER BY e.data ->> 'token_sha256', e.id)

-- entity_subquery('user', 'username', 'ILIKE', '$1')
SELECT e.id FROM entities e WHERE e.entity = 'user' AND NOT e.deleted AND e.data IS NOT NULL AND e.data ->> 'username' ILIKE $1 ESCAPE '\'
