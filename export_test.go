package apikey

// FindByDigestQuery returns the statement s.FindByDigest runs, so a test
// can EXPLAIN exactly that statement.
func FindByDigestQuery(s *SQLStore) string { return s.q.findByDigest }
