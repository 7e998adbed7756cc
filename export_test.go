package apikey

// FindByDigestQuery returns the statement s.FindByDigest runs, so a test
// can EXPLAIN exactly that statement.
func FindByDigestQuery(s *SQLStore) string { return s.q.findByDigest }

// TableOf returns s's dialect and table, so a test can drop what Migrate
// created with internal/sqltest.
func TableOf(s *SQLStore) (Dialect, string) { return s.dialect, s.table }
