-- usagestream.materializer.read.cutoff: the SQL it sends, exactly as sent (one statement or predicate
-- per entry, under its name in the module). Written by scripts/generate_sql.py: do not edit.

-- oldest_rollups_sql('usage_records')  -- $1 the records cut-off
SELECT min(bucket), max(bucket) FROM usage_agg WHERE dim = 'all' AND grain = 0 AND bucket < $1

-- oldest_rollups_sql('candidate_records')  -- $1 the records cut-off
SELECT min(bucket), max(bucket) FROM attempt_agg WHERE grain = 0 AND bucket < $1
