SELECT * FROM {table:Identifier} FINAL ORDER BY 1 LIMIT {limit:UInt32}
