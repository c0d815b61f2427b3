-- Where the entity's next MART run starts, per RAW partition (a partition not listed starts at 0).
SELECT partition, next_offset FROM mart_watermarks FINAL WHERE entity = {entity:String}
