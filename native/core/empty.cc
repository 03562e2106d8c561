// Stands in for an ISA source group that has no files yet (gyp targets need at least one source).
