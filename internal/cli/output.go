package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// keyJSON is a key as the command prints it with --json, the same form
// the admin API answers with. It has no field for the digest or the
// hasher: nothing printed can help find a key.
type keyJSON = keyjson.Key

// issuedJSON is what create and rotate print with --json: the plaintext
// key, once, and the new record, as the admin API answers a create or a
// rotation ({"plaintext": …, "key": {…}}).
type issuedJSON struct {
	Plaintext string  `json:"plaintext"`
	Key       keyJSON `json:"key"`
	// Replaces and OldExpiresAt are set by rotate: the old key's ID and
	// when it stops working.
	Replaces     string     `json:"replaces,omitempty"`
	OldExpiresAt *time.Time `json:"old_expires_at,omitempty"`
}

func toJSON(k apikey.Key, now time.Time) keyJSON { return keyjson.From(k, now) }

// jsonTime is nil (JSON null) for the zero time, which means never.
func jsonTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// state is what the service would make of the key now: expired keys and
// disabled keys are both refused; expired says more, since enabling will
// not bring the key back.
func state(k apikey.Key, now time.Time) string {
	return string(k.State(now))
}

// textTime formats a time for people: UTC to the second, or "never".
func textTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func joinOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}

// fieldWriter prints "Name:  value" lines with aligned values; values of
// several lines (descriptions) stay aligned too.
type fieldWriter struct{ w io.Writer }

func newFieldWriter(w io.Writer) fieldWriter { return fieldWriter{w} }

const fieldWidth = 13

func (f fieldWriter) field(name, value string) {
	value = strings.ReplaceAll(value, "\n", "\n"+strings.Repeat(" ", fieldWidth))
	line := fmt.Sprintf("%-*s%s", fieldWidth, name+":", value)
	fmt.Fprintln(f.w, strings.TrimRight(line, " "))
}

// printTable prints keys as a table, one per line.
func printTable(w io.Writer, keys []apikey.Key, now time.Time, owner string) {
	if len(keys) == 0 {
		if owner != "" {
			fmt.Fprintf(w, "No keys for %s.\n", owner)
		} else {
			fmt.Fprintln(w, "No keys. Create one with: apikey create --owner NAME")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTART\tOWNER\tNAME\tSTATE\tEXPIRES\tLAST USED")
	for _, k := range keys {
		name := k.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			k.ID, k.Start, k.Owner, name, state(k, now), textTime(k.ExpiresAt), textTime(k.LastUsedAt))
	}
	tw.Flush()
}
