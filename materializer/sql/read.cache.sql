-- usagestream.materializer.read.cache: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.
-- Built per request: each entry names the builder call, the request, then its arguments.

-- ALL_USERS  -- the CTE grp(g) of every user with a completed record since $1 (a skip scan)
WITH grp(g) AS (SELECT key FROM usage_agg WHERE dim = 'user' AND grain = 3 AND bucket > $1::timestamptz - interval '32 days' AND n_completed > 0 GROUP BY key)

-- ttl_sql('user-1', 'key-1', SINCE)
--   for: TTL analysis, one user's requests by API key (user_id and api_key_id given)
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 'key-1'
--   $3 = 'user-1'
WITH grp(g) AS (SELECT $2::text) SELECT grp.g, s.*, s.p[1] AS p50, s.p[2] AS p75, s.p[3] AS p90 FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE m <= 5) AS within_5min, count(*) FILTER (WHERE m > 5 AND m <= 15) AS within_15min, count(*) FILTER (WHERE m > 15 AND m <= 30) AS within_30min, count(*) FILTER (WHERE m > 30 AND m <= 60) AS within_60min, count(*) FILTER (WHERE m > 60) AS over_60min, percentile_cont(ARRAY[0.5, 0.75, 0.9]::float8[]) WITHIN GROUP (ORDER BY m) AS p, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m FROM (SELECT CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at , id ) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND api_key_id = grp.g AND user_id = $3) a) iv WHERE m IS NOT NULL HAVING count(*) >= 2) s WHERE grp.g IS NOT NULL ORDER BY s.n DESC, grp.g COLLATE "C"

-- ttl_sql(None, 'key-1', SINCE)
--   for: TTL analysis, by API key (api_key_id given)
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 'key-1'
WITH grp(g) AS (SELECT $2::text) SELECT grp.g, s.*, s.p[1] AS p50, s.p[2] AS p75, s.p[3] AS p90 FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE m <= 5) AS within_5min, count(*) FILTER (WHERE m > 5 AND m <= 15) AS within_15min, count(*) FILTER (WHERE m > 15 AND m <= 30) AS within_30min, count(*) FILTER (WHERE m > 30 AND m <= 60) AS within_60min, count(*) FILTER (WHERE m > 60) AS over_60min, percentile_cont(ARRAY[0.5, 0.75, 0.9]::float8[]) WITHIN GROUP (ORDER BY m) AS p, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m FROM (SELECT CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at , id ) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND api_key_id = grp.g) a) iv WHERE m IS NOT NULL HAVING count(*) >= 2) s WHERE grp.g IS NOT NULL ORDER BY s.n DESC, grp.g COLLATE "C"

-- ttl_sql('user-1', None, SINCE)
--   for: TTL analysis, one user (user_id given)
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 'user-1'
WITH grp(g) AS (SELECT $2::text) SELECT grp.g, s.*, s.p[1] AS p50, s.p[2] AS p75, s.p[3] AS p90 FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE m <= 5) AS within_5min, count(*) FILTER (WHERE m > 5 AND m <= 15) AS within_15min, count(*) FILTER (WHERE m > 15 AND m <= 30) AS within_30min, count(*) FILTER (WHERE m > 30 AND m <= 60) AS within_60min, count(*) FILTER (WHERE m > 60) AS over_60min, percentile_cont(ARRAY[0.5, 0.75, 0.9]::float8[]) WITHIN GROUP (ORDER BY m) AS p, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m FROM (SELECT CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at , id ) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) iv WHERE m IS NOT NULL HAVING count(*) >= 2) s WHERE grp.g IS NOT NULL ORDER BY s.n DESC, grp.g COLLATE "C"

-- ttl_sql(None, None, SINCE)
--   for: TTL analysis, every user
--   $1 = 2026-03-13T16:52:00+00:00
WITH grp(g) AS (SELECT key FROM usage_agg WHERE dim = 'user' AND grain = 3 AND bucket > $1::timestamptz - interval '32 days' AND n_completed > 0 GROUP BY key) SELECT grp.g, s.*, s.p[1] AS p50, s.p[2] AS p75, s.p[3] AS p90 FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE m <= 5) AS within_5min, count(*) FILTER (WHERE m > 5 AND m <= 15) AS within_15min, count(*) FILTER (WHERE m > 15 AND m <= 30) AS within_30min, count(*) FILTER (WHERE m > 30 AND m <= 60) AS within_60min, count(*) FILTER (WHERE m > 60) AS over_60min, percentile_cont(ARRAY[0.5, 0.75, 0.9]::float8[]) WITHIN GROUP (ORDER BY m) AS p, avg(m) AS avg_m, min(m) AS min_m, max(m) AS max_m FROM (SELECT CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at , id ) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) iv WHERE m IS NOT NULL HAVING count(*) >= 2) s WHERE grp.g IS NOT NULL ORDER BY s.n DESC, grp.g COLLATE "C"

-- timeline_sql(SINCE, 1000, 'user-1', multi=False)
--   for: interval timeline, one user's newest points
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 1000
--   $3 = 'user-1'
WITH grp(g) AS (SELECT $3::text) SELECT * FROM (SELECT p.* FROM grp CROSS JOIN LATERAL (SELECT * FROM (SELECT created_at, id, model, CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at, id, model, created_at - lead(created_at) OVER (ORDER BY created_at DESC, id DESC) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) b WHERE m <= 120 ORDER BY created_at DESC, id DESC LIMIT $2) p WHERE grp.g IS NOT NULL ORDER BY p.created_at DESC, p.id DESC LIMIT $2) newest ORDER BY created_at, id

-- timeline_sql(SINCE, 1000, None, multi=False)
--   for: interval timeline, the newest points of every user
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 1000
WITH grp(g) AS (SELECT key FROM usage_agg WHERE dim = 'user' AND grain = 3 AND bucket > $1::timestamptz - interval '32 days' AND n_completed > 0 GROUP BY key) SELECT * FROM (SELECT p.* FROM grp CROSS JOIN LATERAL (SELECT * FROM (SELECT created_at, id, model, CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at, id, model, created_at - lead(created_at) OVER (ORDER BY created_at DESC, id DESC) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) b WHERE m <= 120 ORDER BY created_at DESC, id DESC LIMIT $2) p WHERE grp.g IS NOT NULL ORDER BY p.created_at DESC, p.id DESC LIMIT $2) newest ORDER BY created_at, id

-- timeline_sql(SINCE, 1000, None, multi=True)
--   for: interval timeline, every user's share of the limit (multi)
--   $1 = 2026-03-13T16:52:00+00:00
--   $2 = 1000
WITH grp(g) AS (SELECT key FROM usage_agg WHERE dim = 'user' AND grain = 3 AND bucket > $1::timestamptz - interval '32 days' AND n_completed > 0 GROUP BY key), cnt AS (SELECT grp.g, c.n FROM grp CROSS JOIN LATERAL (SELECT count(*) AS n FROM (SELECT CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at - lag(created_at) OVER (ORDER BY created_at , id ) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) b WHERE m <= 120) c WHERE grp.g IS NOT NULL AND c.n > 0), quota AS (SELECT g, (CASE WHEN total <= $2 THEN n ELSE GREATEST(ceil(n::numeric * $2 / total), 1) END)::bigint AS q FROM (SELECT g, n, sum(n) OVER () AS total FROM cnt) t) SELECT grp.g AS user_id, p.created_at, p.model, p.m FROM quota grp CROSS JOIN LATERAL (SELECT * FROM (SELECT created_at, id, model, CASE WHEN d < interval '1 day' THEN date_part('epoch', d) ELSE EXTRACT(EPOCH FROM d)::float8 END / 60 AS m FROM (SELECT created_at, id, model, created_at - lead(created_at) OVER (ORDER BY created_at DESC, id DESC) AS d FROM usage_records WHERE status = 'completed' AND created_at > $1 AND user_id = grp.g) a) b WHERE m <= 120 ORDER BY created_at DESC, id DESC LIMIT grp.q) p ORDER BY p.created_at, p.id
