package apikey

// FindByDigestQuery returns the statement s.FindByDigest runs, so a test
// can EXPLAIN exactly that statement.
func FindByDigestQuery(s *SQLStore) string { return s.q.findByDigest }

// DropStatements returns the statements that remove s's table and its
// change log, for test cleanup.
func DropStatements(s *SQLStore) []string {
	stmts := []string{"DROP TABLE IF EXISTS " + s.table, "DROP TABLE IF EXISTS " + indexName(s.table, "_changes")}
	if s.dialect == Postgres {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+indexName(s.table, "_log_change")+"()")
	}
	return stmts
}
