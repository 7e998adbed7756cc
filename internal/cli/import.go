package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/go-apikey/apikey"
)

// stdin is what import reads for the file "-"; tests replace it.
var stdin io.Reader = os.Stdin

var importCmd = &command{
	name:    "import",
	args:    "FILE",
	nargs:   1,
	summary: "import keys another system issued, from CSV or JSON",
	help: `Imports keys that another system issued, so their holders keep using them:
each by its plaintext (hashed with SHA-256 at once, never kept) or by its
SHA-256 digest. FILE is CSV or JSON (by its extension, or --format); - reads
standard input.

CSV: a first line naming the columns, in any order, then a key a line:
  owner          required
  plaintext      the key itself, or
  sha256         its SHA-256 digest, in hex (64 characters) or base64
  name, description
  scopes         separated by spaces, ';' or ','
  expires_at     an RFC 3339 time, such as 2027-01-31T00:00:00Z; empty: never
                 (a time past imports the key expired)
  start          the key's first characters (at most 12), shown in lists
                 (default: the plaintext's first 8)
  metadata       k=v;k=v
  meta.KEY       the metadata KEY, one column each (for values holding ';')

  owner,name,scopes,expires_at,plaintext
  alice,ci,bots:read bots:write,,sk-4qGZ…

JSON: an array of objects, or one object a line (JSON lines), with the same
names: {"owner": "alice", "scopes": ["bots:read"], "metadata": {"team":
"infra"}, "sha256": "9f86…"}.

Every key is checked before any is stored, and a refusal names its line
(and, in a JSON array, its element), never the key or its digest. A key
already in the table is found then too. Should the database fail midway,
the command lists the keys it stored, and says which line failed.

The service accepts keys that lack this library's shape only with
apikey.WithImportedKeys(match): give --shape with a regular expression that
matches the old keys and nothing else, and the command checks every
plaintext against it and prints the option to add. A service whose Hasher
is another (apikey.WithHashers) finds imported keys by their SHA-256 digest
and moves each to its Hasher on its first use. Rotating an imported key
hands its holder a key in this library's format.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.format, "format", "", "the file's `format`, csv or json (default: by its extension: .csv, .json, .jsonl or .ndjson)")
		fs.StringVar(&o.shape, "shape", "", "a Go `regexp` that the old keys match, such as '^sk-[A-Za-z0-9]{48}$', for apikey.WithImportedKeys (anchored with ^ and $ if it is not)")
		fs.BoolVar(&o.dryRun, "dry-run", false, "check the file, and that no key in it is stored yet, without storing any")
	},
	run: runImport,
}

// importRow is one key of the file and the line it starts on.
type importRow struct {
	line    int
	element int // in a JSON array, 1-based; else 0
	key     apikey.ImportKey
}

// where names a row in messages: its line, and its element in a JSON
// array.
func (r importRow) where() string {
	if r.element > 0 {
		return fmt.Sprintf("line %d (element %d)", r.line, r.element)
	}
	return fmt.Sprintf("line %d", r.line)
}

// errImportFile is a refusal of the file's contents; its message names the
// line and never holds a key.
var errImportFile = errors.New("import")

func rowErrorf(where, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errImportFile, where, fmt.Sprintf(format, args...))
}

func runImport(ctx context.Context, e *env, o *options, args []string) error {
	file := args[0]
	format, err := importFormat(o.format, file)
	if err != nil {
		return err
	}
	var shape *regexp.Regexp
	if o.set["shape"] {
		if shape, err = compileShape(o.shape); err != nil {
			return err
		}
	}
	data, err := readImportFile(file)
	if err != nil {
		return err
	}
	var rows []importRow
	if format == "csv" {
		rows, err = parseCSV(data)
	} else {
		rows, err = parseJSON(data)
	}
	if err != nil {
		return trimImportError(err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("no keys in %s", file)
	}
	if err := checkRows(rows, shape); err != nil {
		return trimImportError(err)
	}
	var opts []apikey.Option
	if shape != nil {
		opts = append(opts, apikey.WithImportedKeys(shape.MatchString))
	}
	keys := make([]apikey.ImportKey, len(rows))
	for i, r := range rows {
		keys[i] = r.key
	}
	// Every check of the import, before the database is opened: on a
	// store that keeps nothing, which is all a dry run stores to.
	checked, err := importTo(ctx, apikey.NewMemoryStore(), opts, rows, keys)
	if err != nil {
		return err
	}

	a := createTable
	if o.dryRun {
		a = readKeys
	}
	store, _, closeDB, err := e.openDB(ctx, o, a)
	switch {
	case o.dryRun && errors.Is(err, errNoTable):
		// Nothing stored to clash with: import would make the table.
	case err != nil:
		return err
	default:
		defer closeDB()
		// Import itself refuses a key stored already, in any digest form,
		// before it stores one; a dry run stores nothing, so it looks.
		if o.dryRun {
			if err := findStored(ctx, store, rows); err != nil {
				return trimImportError(err)
			}
		}
	}
	stored, failed := checked, error(nil)
	if o.dryRun {
		for i := range stored {
			stored[i].ID = ""
		}
	} else {
		// No Redis announcement: the keys are new, and no cache holds
		// them.
		stored, failed = importTo(ctx, store, opts, rows, keys)
		if failed != nil && len(stored) == 0 {
			return fmt.Errorf("%w; no key was imported", failed)
		}
	}
	if perr := printImported(e, o, file, rows, stored, shape); perr != nil {
		return perr
	}
	if failed != nil {
		return fmt.Errorf("%w; the %d keys before it, listed above, were stored, and no key after them", failed, len(stored))
	}
	return nil
}

// importTo imports keys into store with a Manager with opts, and returns
// the keys stored, and the error of the row that failed, naming its line.
func importTo(ctx context.Context, store apikey.Store, opts []apikey.Option, rows []importRow, keys []apikey.ImportKey) ([]apikey.Key, error) {
	m, err := manager(store, apikey.DefaultPrefix, opts)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	stored, err := m.Import(ctx, keys)
	var ie *apikey.ImportError
	if errors.As(err, &ie) && ie.Row >= 1 && ie.Row <= len(rows) {
		err = rowError{rows[ie.Row-1].where(), ie.Err}
	}
	return stored, err
}

// rowError is the refusal of one row by Import, naming its line.
type rowError struct {
	where string
	err   error
}

func (e rowError) Error() string {
	return e.where + ": " + strings.TrimPrefix(e.err.Error(), "apikey: ")
}

func (e rowError) Unwrap() error { return e.err }

// trimImportError drops errImportFile's word from err's message.
func trimImportError(err error) error {
	if errors.Is(err, errImportFile) {
		return errors.New(strings.TrimPrefix(err.Error(), errImportFile.Error()+": "))
	}
	return err
}

// importFormat returns csv or json, from --format or else from the file's
// extension.
func importFormat(flagValue, file string) (string, error) {
	switch f := strings.ToLower(flagValue); f {
	case "csv", "json":
		return f, nil
	case "":
	default:
		return "", usagef("--format is csv or json")
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".csv":
		return "csv", nil
	case ".json", ".jsonl", ".ndjson":
		return "json", nil
	}
	if file == "-" {
		return "", usagef("give --format csv or --format json to read standard input")
	}
	return "", usagef("give --format csv or --format json: the file's name does not end in .csv, .json, .jsonl or .ndjson")
}

// compileShape compiles --shape, anchored at both ends so that it matches
// whole keys only.
func compileShape(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, usagef("--shape is empty: give a regular expression that the old keys match")
	}
	if strings.Contains(s, "|") {
		// "^a|b$" is "^a" or "b$": anchor the alternatives as one.
		inner := strings.TrimPrefix(s, "^")
		if strings.HasSuffix(inner, "$") && !strings.HasSuffix(inner, `\$`) {
			inner = strings.TrimSuffix(inner, "$")
		}
		s = "^(?:" + inner + ")$"
	}
	if !strings.HasPrefix(s, "^") {
		s = "^" + s
	}
	if !strings.HasSuffix(s, "$") || strings.HasSuffix(s, `\$`) {
		s += "$"
	}
	re, err := regexp.Compile(s)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, usagef("--shape is not a regular expression: %s", se.Code)
		}
		return nil, usagef("--shape is not a regular expression")
	}
	if re.MatchString("") {
		return nil, usagef("--shape matches the empty string: it must match the old keys and nothing else")
	}
	return re, nil
}

func readImportFile(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("reading %s: %v", file, pe.Err)
		}
		return nil, err
	}
	return data, nil
}

// Columns of an import file, CSV headings and JSON names alike.
const (
	colOwner       = "owner"
	colName        = "name"
	colDescription = "description"
	colScopes      = "scopes"
	colExpiresAt   = "expires_at"
	colPlaintext   = "plaintext"
	colSHA256      = "sha256"
	colStart       = "start"
	colMetadata    = "metadata"
	colMeta        = "meta." // meta.KEY
)

var importColumns = []string{colOwner, colName, colDescription, colScopes, colExpiresAt, colPlaintext, colSHA256, colStart, colMetadata}

// parseCSV reads rows from CSV with a header line.
func parseCSV(data []byte) ([]importRow, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a spreadsheet's byte order mark
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		name := strings.ToLower(h)
		if m, ok := strings.CutPrefix(name, colMeta); ok && m != "" {
			name = colMeta + h[len(colMeta):] // metadata keys keep their case
		} else if !slices.Contains(importColumns, name) {
			return nil, unknownName(fmt.Sprintf("line 1, column %d", i+1), "column", h)
		}
		if seen[name] {
			return nil, rowErrorf(fmt.Sprintf("line 1, column %d", i+1), "%s is named twice", name)
		}
		seen[name], cols[i] = true, name
	}
	if !seen[colOwner] || !seen[colPlaintext] && !seen[colSHA256] {
		return nil, rowErrorf("line 1", "the first line names the columns, and they must include owner, and plaintext or sha256")
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		row := importRow{line: line}
		where := row.where()
		var metaCell string
		meta := map[string]string{}
		for i, cell := range rec {
			if cols[i] != colDescription {
				cell = strings.TrimSpace(cell)
			}
			switch c := cols[i]; c {
			case colOwner:
				row.key.Owner = cell
			case colName:
				row.key.Name = cell
			case colDescription:
				row.key.Description = cell
			case colScopes:
				row.key.Scopes = strings.FieldsFunc(cell, func(r rune) bool { return unicode.IsSpace(r) || r == ';' || r == ',' })
			case colExpiresAt:
				if row.key.ExpiresAt, err = parseExpiry(where, cell); err != nil {
					return nil, err
				}
			case colPlaintext:
				row.key.Plaintext = cell
			case colSHA256:
				if row.key.SHA256, err = parseDigest(where, cell); err != nil {
					return nil, err
				}
			case colStart:
				row.key.Start = cell
			case colMetadata:
				metaCell = cell
			default:
				if cell != "" {
					meta[strings.TrimPrefix(c, colMeta)] = cell
				}
			}
		}
		if metaCell != "" {
			for pair := range strings.SplitSeq(metaCell, ";") {
				if pair = strings.TrimSpace(pair); pair == "" {
					continue
				}
				k, v, ok := strings.Cut(pair, "=")
				if !ok || k == "" {
					return nil, rowErrorf(where, "metadata: want k=v;k=v (a value holding ';' needs a meta.KEY column)")
				}
				if _, dup := meta[k]; dup {
					return nil, rowErrorf(where, "metadata: a key is given twice")
				}
				meta[k] = v
			}
		}
		if len(meta) > 0 {
			row.key.Metadata = meta
		}
		rows = append(rows, row)
	}
}

// heading quotes a CSV heading or a JSON name for a message, unless it
// could be a key (a file without its header line has one on its first
// line): an imported key is at least 16 characters.
func heading(h string) (string, bool) {
	if len(h) < 16 && !apikey.LooksLikeKey(h) {
		return strconv.Quote(h), true
	}
	return "", false
}

// unknownName says that a CSV column or a JSON field is not one of the
// names import reads.
func unknownName(where, what, name string) error {
	list := strings.Join(importColumns, ", ") + ", or meta.KEY"
	if what == "field" {
		list = strings.Join(importColumns, ", ")
	}
	if q, ok := heading(name); ok {
		return rowErrorf(where, "%s is not a %s; the %ss are: %s", q, what, what, list)
	}
	return rowErrorf(where, "a %s's name is not one of: %s (it is not shown: it is as long as a key)", what, list)
}

// csvError is a CSV syntax error naming its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return rowErrorf(fmt.Sprintf("line %d", pe.Line), "%v", pe.Err)
	}
	return err
}

func parseExpiry(where, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, rowErrorf(where, "expires_at: want an RFC 3339 time such as 2027-01-31T00:00:00Z, or nothing for never")
	}
	if t.IsZero() {
		return time.Time{}, rowErrorf(where, "expires_at: the zero time means never; leave it empty for that")
	}
	return t, nil
}

// parseDigest reads a SHA-256 digest in hex or in base64 (standard or URL
// alphabet, padded or not). Its errors never hold the digest.
func parseDigest(where, s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) == hex.EncodedLen(sha256.Size) {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == sha256.Size {
			return b, nil
		}
	}
	return nil, rowErrorf(where, "sha256: want the 32-byte SHA-256 digest in hex (64 characters) or base64 (43 or 44)")
}

// isDigest reports whether s reads as a SHA-256 digest, as parseDigest
// reads one.
func isDigest(s string) bool {
	b, err := parseDigest("", s)
	return err == nil && b != nil
}

// jsonRow is a key as a JSON import file gives it.
type jsonRow struct {
	Owner       string            `json:"owner"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Scopes      []string          `json:"scopes"`
	Metadata    map[string]string `json:"metadata"`
	ExpiresAt   *string           `json:"expires_at"`
	Plaintext   string            `json:"plaintext"`
	SHA256      string            `json:"sha256"`
	Start       string            `json:"start"`
}

// parseJSON reads rows from a JSON array of objects, or from objects one
// after the other (JSON lines).
func parseJSON(data []byte) ([]importRow, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	lineAt := func(off int64) int { return 1 + bytes.Count(data[:off], []byte("\n")) }
	// start returns the offset of the next value at or after off.
	start := func(off int64) int64 {
		for off < int64(len(data)) && (data[off] == ',' || unicode.IsSpace(rune(data[off]))) {
			off++
		}
		return off
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	first := start(0)
	if first == int64(len(data)) {
		return nil, nil
	}
	array := data[first] == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(lineAt(first), 0, err)
		}
	} else if data[first] != '{' {
		return nil, rowErrorf(fmt.Sprintf("line %d", lineAt(first)), "want a JSON array of objects, or one object a line")
	}
	var rows []importRow
	for n := 1; ; n++ {
		if array && !dec.More() {
			if _, err := dec.Token(); err != nil {
				return nil, jsonError(lineAt(start(dec.InputOffset())), 0, err)
			}
			if off := start(dec.InputOffset()); off != int64(len(data)) {
				return nil, rowErrorf(fmt.Sprintf("line %d", lineAt(off)), "more after the array's end")
			}
			return rows, nil
		}
		off := start(dec.InputOffset())
		if !array && off == int64(len(data)) {
			return rows, nil
		}
		row := importRow{line: lineAt(off)}
		if array {
			row.element = n
		}
		if off < int64(len(data)) && data[off] != '{' {
			return nil, rowErrorf(row.where(), "want an object, such as {\"owner\": \"alice\", \"sha256\": \"…\"}")
		}
		var j jsonRow
		if err := dec.Decode(&j); err != nil {
			return nil, jsonError(row.line, row.element, err)
		}
		where := row.where()
		row.key = apikey.ImportKey{Owner: j.Owner, Name: j.Name, Description: j.Description, Scopes: j.Scopes,
			Metadata: j.Metadata, Plaintext: j.Plaintext, Start: j.Start}
		var err error
		if j.ExpiresAt != nil {
			if row.key.ExpiresAt, err = parseExpiry(where, *j.ExpiresAt); err != nil {
				return nil, err
			}
		}
		if row.key.SHA256, err = parseDigest(where, j.SHA256); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// jsonError is a JSON decoding error naming the line, and the element in
// an array, without the values the file holds.
func jsonError(line, element int, err error) error {
	where := importRow{line: line, element: element}.where()
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return rowErrorf(where, "not valid JSON: %s", strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return rowErrorf(where, "the JSON ends too soon")
	case errors.As(err, &te):
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Slice: "a list of strings", reflect.Map: "an object of strings"}[te.Type.Kind()]
		if te.Field == "" {
			return rowErrorf(where, "want an object, not a JSON %s", te.Value)
		}
		if want == "" {
			want = "a " + te.Type.String()
		}
		// Field is the field's name alone, never a metadata key, which
		// could hold anything (the test "key as a metadata key" sees to it).
		return rowErrorf(where, "%s: want %s, not a JSON %s", te.Field, want, te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			return unknownName(where, "field", n)
		}
	}
	return rowErrorf(where, "not valid JSON")
}

// checkRows refuses, before anything is stored, a key the service could
// not tell from another's or that a column out of place would print: a
// field other than plaintext and sha256 that looks like a key (this
// library's shape, or --shape), or holds the row's plaintext; and, without
// --shape, a plaintext that lacks this library's shape.
func checkRows(rows []importRow, shape *regexp.Regexp) error {
	seen := map[[sha256.Size]byte]string{}
	for _, r := range rows {
		if d, ok := rowDigest(r); ok {
			if first, dup := seen[d]; dup {
				return rowErrorf(r.where(), "the same key as %s", first)
			}
			seen[d] = r.where()
		}
		fields := []struct{ name, value string }{
			{colOwner, r.key.Owner}, {colName, r.key.Name}, {colDescription, r.key.Description}, {colStart, r.key.Start},
		}
		for _, s := range r.key.Scopes {
			fields = append(fields, struct{ name, value string }{colScopes, s})
		}
		for k, v := range r.key.Metadata {
			fields = append(fields, struct{ name, value string }{colMetadata, k}, struct{ name, value string }{colMetadata, v})
		}
		for _, f := range fields {
			if f.value == "" {
				continue
			}
			switch {
			case apikey.LooksLikeKey(f.value) || apikey.ResemblesKey(f.value) ||
				len(r.key.Plaintext) >= 16 && strings.Contains(f.value, r.key.Plaintext):
				return rowErrorf(r.where(), "%s looks like a key: is a column out of place? (only plaintext or sha256 may hold one)", f.name)
			case shape != nil && shape.MatchString(f.value):
				return rowErrorf(r.where(), "%s matches --shape, so it looks like a key: is a column out of place? (only plaintext or sha256 may hold one; if it is no key, narrow --shape)", f.name)
			case isDigest(f.value):
				return rowErrorf(r.where(), "%s looks like a SHA-256 digest: is a column out of place? (only sha256 may hold one)", f.name)
			}
		}
		if r.key.Plaintext != "" && shape == nil && !apikey.LooksLikeKey(r.key.Plaintext) {
			return rowErrorf(r.where(), "the key does not have this library's shape (ak_…): give --shape with a regular expression that the old keys match, which the service will need too (apikey.WithImportedKeys)")
		}
		if r.key.Plaintext != "" && shape != nil && !shape.MatchString(r.key.Plaintext) && !apikey.LooksLikeKey(r.key.Plaintext) {
			return rowErrorf(r.where(), "the key does not match --shape, nor has it this library's shape (ak_…): widen --shape, or leave the row out")
		}
	}
	return nil
}

// rowDigest returns the SHA-256 digest of the row's key, given or of its
// plaintext; false for a row with neither, or both, which Import refuses
// with the reason.
func rowDigest(r importRow) ([sha256.Size]byte, bool) {
	switch {
	case r.key.Plaintext != "" && r.key.SHA256 == nil:
		return sha256.Sum256([]byte(r.key.Plaintext)), true
	case r.key.Plaintext == "" && len(r.key.SHA256) == sha256.Size:
		return [sha256.Size]byte(r.key.SHA256), true
	}
	return [sha256.Size]byte{}, false
}

// findStored refuses a key the table holds already (by the SHA-256 digest
// the import would store), for a dry run, which stores nothing: a real
// import has Manager.Import look, in every digest form.
func findStored(ctx context.Context, store apikey.Store, rows []importRow) error {
	for _, r := range rows {
		d, ok := rowDigest(r)
		if !ok {
			continue
		}
		k, err := store.FindByDigest(ctx, d[:])
		switch {
		case err == nil:
			return rowErrorf(r.where(), "the key is stored already, as key %s; nothing was imported", k.ID)
		case !errors.Is(err, apikey.ErrNotFound):
			return err
		}
	}
	return nil
}

// importedJSON is one key import printed with --json: its line in the
// file, and its record as the admin API shows keys.
type importedJSON struct {
	Line    int     `json:"line"`
	Element int     `json:"element,omitempty"`
	Key     keyJSON `json:"key"`
}

// importJSON is what import prints with --json.
type importJSON struct {
	DryRun   bool           `json:"dry_run"`
	Imported []importedJSON `json:"imported"`
	// ServiceOption is the option the service needs to verify the keys,
	// null when --shape was not given.
	ServiceOption *string `json:"service_option"`
}

// printImported prints the keys stored (or that would be, with
// --dry-run), and what the service needs to verify them.
func printImported(e *env, o *options, file string, rows []importRow, stored []apikey.Key, shape *regexp.Regexp) error {
	now := time.Now()
	if o.json {
		out := importJSON{DryRun: o.dryRun, Imported: make([]importedJSON, len(stored))}
		for i, k := range stored {
			out.Imported[i] = importedJSON{Line: rows[i].line, Element: rows[i].element, Key: toJSON(k, now)}
		}
		if shape != nil {
			s := goOption(shape)
			out.ServiceOption = &s
		}
		return writeJSON(e.stdout, out)
	}
	name := file
	if file == "-" {
		name = "standard input"
	}
	plain := 0
	for _, r := range rows[:len(stored)] {
		if r.key.Plaintext != "" {
			plain++
		}
	}
	what := fmt.Sprintf("%d keys (%d by plaintext, %d by SHA-256 digest)", len(stored), plain, len(stored)-plain)
	if o.dryRun {
		fmt.Fprintf(e.stdout, "Checked %s in %s: all would be imported. Nothing was stored (--dry-run).\n\n", what, name)
	} else {
		fmt.Fprintf(e.stdout, "Imported %s from %s.\n\n", what, name)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	if o.dryRun {
		fmt.Fprintln(tw, "LINE\tSTART\tOWNER\tNAME\tEXPIRES")
	} else {
		fmt.Fprintln(tw, "LINE\tID\tSTART\tOWNER\tNAME\tEXPIRES")
	}
	for i, k := range stored {
		name := k.Name
		if name == "" {
			name = "-"
		}
		start := k.Start
		if start == "" {
			start = "-"
		}
		if o.dryRun {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", rows[i].line, start, k.Owner, name, textTime(k.ExpiresAt))
		} else {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", rows[i].line, k.ID, start, k.Owner, name, textTime(k.ExpiresAt))
		}
	}
	tw.Flush()
	fmt.Fprintln(e.stdout)
	switch {
	case shape != nil:
		fmt.Fprintf(e.stdout, "The service verifies keys of the old shape only with this option:\n\n    %s\n\n"+
			"(apikey serve answers gateways' checks for them with --shape %s.)\n\n", goOption(shape), shellWord(shape.String()))
	case plain == len(stored):
		fmt.Fprint(e.stdout, "They have this library's shape: the service accepts them if it accepts their prefix.\n\n")
	default:
		fmt.Fprint(e.stdout, "Unless they have this library's shape, the service verifies them only with\n"+
			"apikey.WithImportedKeys(match), match reporting true for the old keys' shape and\n"+
			"nothing else; give --shape, and the command prints the option.\n\n")
	}
	fmt.Fprint(e.stdout, "Rotating an imported key hands its holder a key in this library's format.\n")
	return nil
}

// goOption is the option a service adds to verify keys of shape, as Go
// source: the expression in a raw string literal unless it holds a
// backquote.
func goOption(shape *regexp.Regexp) string {
	lit := "`" + shape.String() + "`"
	if strings.Contains(shape.String(), "`") {
		lit = strconv.Quote(shape.String())
	}
	return "apikey.WithImportedKeys(regexp.MustCompile(" + lit + ").MatchString)"
}
