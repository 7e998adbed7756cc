package apikey

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The change log is a table beside the keys table, "<table>_changes" (seq,
// key_id, changed_at), that triggers fill in the database itself: no
// writer can forget to announce a change, whether it is this library, an
// older version of it, the apikey command or a hand-written UPDATE.
//
// An UPDATE is logged when it changes one of the columns changeWatched
// lists; a change of remaining_uses is logged too, unless it is a use
// spent that leaves some (so SpendUse logs the last use only, and a
// refill, not every use). Every DELETE is logged. last_used_at (which
// RecordLastUsed moves forward in batches) and the columns added after
// the first version are not watched: see changeWatched. On PostgreSQL the trigger also sends pg_notify(channel,
// key_id), so a LISTENing feed hears every change when it commits.
//
// Objects, for those who run their own migrations (names longer than 63
// bytes are shortened with a hash, as indexName does): the table
// <table>_changes, the triggers <table>_changed (AFTER UPDATE) and
// <table>_deleted (AFTER DELETE) and, on PostgreSQL, the function
// <table>_log_change().

// changeWatched are the columns whose change is always logged. The
// columns added after the first version are not among them: created_by
// and disabled_by, and metering's rate_limits, refill_amount,
// refill_interval, refill_day, refill_rollover, refilled_at and
// uses_spent. Whoever writes them through the Manager (Update, Rotate)
// changes updated_at (or enabled) in the same statement, which is logged;
// a spend moves refilled_at and uses_spent with remaining_uses, logged as
// above. A hand-written UPDATE of those columns alone must set updated_at
// too for caches to hear of it. Leaving them out keeps the triggers of a
// table made before those columns existed the same as a new table's, so
// Migrate never has to replace a trigger.
var changeWatched = []string{
	"id", "owner", "name", "description", "scopes", "metadata", "start", "hash", "digest",
	"enabled", "created_at", "updated_at", "expires_at", "rate_limit", "rate_window_us",
	"allowed_ips", "rotated_to",
}

// sqlTrigger is a trigger Migrate creates when none of that name exists.
type sqlTrigger struct {
	name   string
	create string
}

// changeCondition is the SQL condition, over OLD and NEW, under which an
// UPDATE is logged. distinct(a, b) is the dialect's NULL-safe "differs".
func changeCondition(distinct func(a, b string) string) string {
	var parts []string
	for _, c := range changeWatched {
		parts = append(parts, distinct("OLD."+c, "NEW."+c))
	}
	// A use spent that leaves some is not logged; any other change of
	// remaining_uses is (the last use, a new limit, a lifted limit). The
	// NOT NULL tests keep the result TRUE or FALSE, never NULL.
	parts = append(parts, "("+distinct("OLD.remaining_uses", "NEW.remaining_uses")+
		" AND NOT (OLD.remaining_uses IS NOT NULL AND NEW.remaining_uses IS NOT NULL"+
		" AND NEW.remaining_uses > 0 AND NEW.remaining_uses < OLD.remaining_uses))")
	return strings.Join(parts, "\n\t\tOR ")
}

func buildChangeLog(q *sqlQueries, d Dialect, t string) {
	changes := indexName(t, "_changes")
	updated, deleted := indexName(t, "_changed"), indexName(t, "_deleted")
	q.changes = "SELECT seq, key_id FROM " + changes + " WHERE seq > ? ORDER BY seq LIMIT ?"
	q.lastChange = "SELECT COALESCE(MAX(seq), 0) FROM " + changes
	switch d {
	case Postgres:
		// Unquoted names are folded to lower case; the channel is a string
		// to pg_notify and a quoted name to LISTEN, so fold it here.
		q.notifyChannel = strings.ToLower(changes)
		fn := indexName(t, "_log_change")
		cond := changeCondition(func(a, b string) string { return a + " IS DISTINCT FROM " + b })
		q.migrate = append(q.migrate,
			`CREATE TABLE IF NOT EXISTS `+changes+` (
	seq BIGSERIAL PRIMARY KEY,
	key_id VARCHAR(64) COLLATE "C" NOT NULL,
	changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`,
			`CREATE OR REPLACE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO `+changes+` (key_id) VALUES (OLD.id);
	PERFORM pg_notify('`+q.notifyChannel+`', OLD.id);
	RETURN NULL;
END
$$`,
			// PostgreSQL 13 has no CREATE OR REPLACE TRIGGER, and DROP
			// TRIGGER would lock the keys table at every start-up.
			`DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '`+t+`'::regclass AND tgname = '`+strings.ToLower(updated)+`') THEN
		CREATE TRIGGER `+updated+` AFTER UPDATE ON `+t+` FOR EACH ROW
		WHEN (`+cond+`)
		EXECUTE FUNCTION `+fn+`();
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '`+t+`'::regclass AND tgname = '`+strings.ToLower(deleted)+`') THEN
		CREATE TRIGGER `+deleted+` AFTER DELETE ON `+t+` FOR EACH ROW EXECUTE FUNCTION `+fn+`();
	END IF;
END
$$`)
		q.pruneChanges = "DELETE FROM " + changes + " WHERE seq < ? AND changed_at < now() - ?::bigint * interval '1 microsecond'"
	case MySQL:
		cond := changeCondition(func(a, b string) string { return "NOT (" + a + " <=> " + b + ")" })
		insert := "INSERT INTO " + changes + " (key_id, changed_at) VALUES (OLD.id, UTC_TIMESTAMP(6));"
		q.migrate = append(q.migrate, "CREATE TABLE IF NOT EXISTS "+changes+` (
	seq BIGINT NOT NULL AUTO_INCREMENT,
	key_id VARBINARY(64) NOT NULL,
	changed_at DATETIME(6) NOT NULL,
	PRIMARY KEY (seq)
) ENGINE=InnoDB`)
		q.triggers = []sqlTrigger{
			{updated, "CREATE TRIGGER " + updated + " AFTER UPDATE ON " + t + " FOR EACH ROW BEGIN\n\tIF " + cond + " THEN\n\t\t" + insert + "\n\tEND IF;\nEND"},
			{deleted, "CREATE TRIGGER " + deleted + " AFTER DELETE ON " + t + " FOR EACH ROW " + strings.TrimSuffix(insert, ";")},
		}
		q.pruneChanges = "DELETE FROM " + changes + " WHERE seq < ? AND changed_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND"
	case SQLite:
		// AUTOINCREMENT: a plain INTEGER PRIMARY KEY would reuse the
		// numbers of pruned rows, and a reader would skip the new ones.
		nowUS := "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
		cond := changeCondition(func(a, b string) string { return a + " IS NOT " + b })
		insert := "INSERT INTO " + changes + " (key_id, changed_at) VALUES (OLD.id, " + nowUS + ");"
		q.migrate = append(q.migrate,
			"CREATE TABLE IF NOT EXISTS "+changes+` (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	key_id TEXT NOT NULL,
	changed_at INTEGER NOT NULL
)`,
			"CREATE TRIGGER IF NOT EXISTS "+updated+" AFTER UPDATE ON "+t+" FOR EACH ROW\n\tWHEN "+cond+"\nBEGIN\n\t"+insert+"\nEND",
			"CREATE TRIGGER IF NOT EXISTS "+deleted+" AFTER DELETE ON "+t+" FOR EACH ROW\nBEGIN\n\t"+insert+"\nEND")
		q.pruneChanges = "DELETE FROM " + changes + " WHERE seq < ? AND changed_at < " + nowUS + " - ?"
	}
}

// createTriggers creates the MySQL triggers that do not exist yet. Two
// migrators racing may both find one missing: the loser's "already
// exists" is success.
func (s *SQLStore) createTriggers(ctx context.Context, tx *sql.Tx) error {
	for _, tr := range s.q.triggers {
		var n int
		err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?", tr.name).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, tr.create); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("creating trigger %s: %w", tr.name, err)
		}
	}
	return nil
}

// A Change is one entry of an SQLStore's change log: the key with ID KeyID
// was changed or deleted. Seq numbers grow with each entry, but entries
// become visible in the order their transactions commit, which on
// PostgreSQL and MySQL is not always Seq order: a reader must expect an
// entry to appear behind one it has already read (package pollfeed does).
type Change struct {
	// Seq is the entry's place in the log.
	Seq int64
	// KeyID is the key that changed.
	KeyID string
}

// Changes returns up to limit entries of the change log with a Seq above
// after, in Seq order. It is one range read of the log's primary key,
// whatever the number of keys.
func (s *SQLStore) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.changes, after, limit)
	if err != nil {
		return nil, fmt.Errorf("apikey: reading the change log of %s: %w", s.table, err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		if err := rows.Scan(&c.Seq, &c.KeyID); err != nil {
			return nil, fmt.Errorf("apikey: reading the change log of %s: %w", s.table, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("apikey: reading the change log of %s: %w", s.table, err)
	}
	return out, nil
}

// LastChange returns the highest Seq in the change log, or zero when it is
// empty.
func (s *SQLStore) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.db.QueryRowContext(ctx, s.q.lastChange).Scan(&seq); err != nil {
		return 0, fmt.Errorf("apikey: reading the change log of %s: %w", s.table, err)
	}
	return seq, nil
}

// PruneChanges deletes the change-log entries older than olderThan, by the
// database's clock, and returns how many it deleted. It always keeps the
// newest entry, so the log's highest Seq never goes back (MySQL before 8.0
// restarts its counter from the highest row after a restart). The feeds
// that read the log (pollfeed, pgfeed) call it now and then; it is cheap
// and safe to run from every process. Without one of them, call it
// yourself now and then, or the log keeps a row for every change.
func (s *SQLStore) PruneChanges(ctx context.Context, olderThan time.Duration) (int64, error) {
	last, err := s.LastChange(ctx)
	if err != nil || last == 0 {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, s.q.pruneChanges, last, olderThan.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("apikey: pruning the change log of %s: %w", s.table, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("apikey: pruning the change log of %s: %w", s.table, err)
	}
	return n, nil
}

// NotifyChannel returns the PostgreSQL channel on which the change log's
// trigger sends pg_notify with the ID of each changed key, for a feed to
// LISTEN on (package pgfeed does). It is empty for the other dialects.
func (s *SQLStore) NotifyChannel() string { return s.q.notifyChannel }
