-- Where the RAW loader resumes: the offset after the highest one stored, per partition.
SELECT partition, max(offset) + 1 FROM {table:Identifier} GROUP BY partition
