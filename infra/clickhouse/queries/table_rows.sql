SELECT count() FROM {table:Identifier} FINAL
