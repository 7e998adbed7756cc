package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/keyjson"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// oldShape is the shape of the keys another system issued: sk- and 48
// letters and digits.
const oldShape = `^sk-[A-Za-z0-9]{48}$`

// oldKey makes a key as the other system did.
func oldKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "sk-" + string(b)
}

// encodings returns a key and its SHA-256 digest in every form a file or
// an output could hold them, to look for.
func encodings(key string) map[string]string {
	d := sha256.Sum256([]byte(key))
	return map[string]string{
		"key": key, "its secret part": key[3:19],
		"hex digest": hex.EncodeToString(d[:]), "HEX digest": strings.ToUpper(hex.EncodeToString(d[:])),
		"base64 digest": base64.StdEncoding.EncodeToString(d[:]), "raw base64 digest": base64.RawStdEncoding.EncodeToString(d[:]),
		"url base64 digest": base64.RawURLEncoding.EncodeToString(d[:]), "digest bytes": string(d[:]),
	}
}

// noKeysIn fails the test if out holds any of keys or their digests.
func noKeysIn(t *testing.T, out string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		for what, s := range encodings(k) {
			// Not NotContains: its failure message would print the output.
			assert.False(t, strings.Contains(out, s), "the output holds a key's %s", what)
		}
	}
}

// writeFile writes content to name in a new directory and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func hexDigest(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

func digestBytes(key string) []byte {
	d := sha256.Sum256([]byte(key))
	return d[:]
}

// importedOutput is import's JSON output.
type importedOutput struct {
	DryRun   bool `json:"dry_run"`
	Imported []struct {
		Line    int         `json:"line"`
		Element int         `json:"element"`
		Key     keyjson.Key `json:"key"`
	} `json:"imported"`
	ServiceOption *string `json:"service_option"`
}

// A CSV file's keys, by plaintext and by digest in every encoding, are
// stored with every field, and verify in a service that passes the option
// the command prints, and in no other.
func TestImportCSV(t *testing.T) {
	c := newEnv(t)
	keys := []string{oldKey(), oldKey(), oldKey(), oldKey(), oldKey(), oldKey()}
	d2 := sha256.Sum256([]byte(keys[2]))
	d3 := sha256.Sum256([]byte(keys[3]))
	later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	file := writeFile(t, "keys.CSV", "\ufeff"+strings.Join([]string{
		"Owner, scopes ,plaintext,sha256,name,description,expires_at,start,metadata,meta.Team",
		"alice,bots:read bots:write;reports:read,," + hexDigest(keys[0]) + ",ci,\"the CI job,\nover two lines\"," + later.Format(time.RFC3339) + ",sk-4q,env=prod;tier=1,infra",
		"bob,,  " + keys[1] + "  ,,,,,,,",
		"carol,,," + base64.StdEncoding.EncodeToString(d2[:]) + ",,,2020-01-01T00:00:00Z,,,",
		"dave,,," + base64.RawURLEncoding.EncodeToString(d3[:]) + ",,,,,,",
		"",
		"erin,,," + strings.ToUpper(hexDigest(keys[4])) + ",,,,,,",
		"frank,,," + base64.RawStdEncoding.EncodeToString(digestBytes(keys[5])) + ",,,,,,",
	}, "\r\n")+"\r\n")
	r := c.run("import", file, "--shape", `sk-[A-Za-z0-9]{48}`)
	require.Equal(t, ExitOK, r.code, r.stderr)
	noKeysIn(t, r.stdout+r.stderr, keys...)
	assert.Equal(t, fmt.Sprintf(tableCreated, c.table, c.db), r.stderr)
	assert.Contains(t, r.stdout, "Imported 6 keys (1 by plaintext, 5 by SHA-256 digest) from "+file+".\n\n")
	assert.Regexp(t, `LINE +ID +START +OWNER +NAME +EXPIRES\n2 +\w{26} +sk-4q +alice +ci +`+later.Format(time.RFC3339)+`\n`+
		`4 +\w{26} +`+keys[1][:8]+` +bob +- +never\n5 +\w{26} +- +carol +- +2020-01-01T00:00:00Z\n6 +\w{26} +- +dave`, r.stdout,
		"each key by the line it starts on; the plaintext's first 8 characters are its start")
	option := "apikey.WithImportedKeys(regexp.MustCompile(`" + oldShape + "`).MatchString)"
	assert.Contains(t, r.stdout, "The service verifies keys of the old shape only with this option:\n\n    "+option+"\n")

	// The printed option is what the service needs: without it, the keys
	// are refused unread; with it, each works, with its fields.
	_, err := c.verify(keys[1])
	assert.ErrorIs(t, err, apikey.ErrMalformedKey)
	shape := apikey.WithImportedKeys(regexp.MustCompile(oldShape).MatchString)
	owners := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	for i, k := range keys {
		p, err := c.verify(k, shape)
		if owners[i] == "carol" {
			assert.ErrorIs(t, err, apikey.ErrKeyExpired, "a past expiry imports the key expired")
			continue
		}
		require.NoError(t, err, owners[i])
		assert.Equal(t, owners[i], p.Owner)
	}
	p, err := c.verify(keys[0], shape)
	require.NoError(t, err)
	assert.Equal(t, []string{"bots:read", "bots:write", "reports:read"}, p.Scopes())
	assert.Equal(t, map[string]string{"env": "prod", "tier": "1", "Team": "infra"}, p.Metadata(), "meta.KEY keeps its case")
	k := c.showKey(p.KeyID)
	assert.Equal(t, "the CI job,\nover two lines", k.Description)
	assert.Equal(t, later, *k.ExpiresAt)
	assert.Equal(t, "ci", k.Name)

	// A service hashing with a secret finds them by SHA-256, and moves
	// each to its Hasher on its first use.
	h, err := apikey.HMACSHA256("2026", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	p, err = c.verify(keys[1], shape, apikey.WithHashers(h))
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Owner)
}

// JSON: an array of objects, or one object a line, with the CSV's names.
func TestImportJSON(t *testing.T) {
	c := newEnv(t)
	a, b, d := oldKey(), oldKey(), oldKey()
	file := writeFile(t, "keys.json", `[
  {"owner": "alice", "name": "ci", "scopes": ["bots:read"], "metadata": {"team": "infra"},
   "expires_at": "2099-01-31T00:00:00Z", "plaintext": "`+a+`"},
  {"owner": "bob", "sha256": "`+hexDigest(b)+`", "start": "sk-Qb", "expires_at": null}
]`)
	var out importedOutput
	r := c.run("import", file, "--shape", oldShape, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	noKeysIn(t, r.stdout+r.stderr, a, b)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.False(t, out.DryRun)
	require.Len(t, out.Imported, 2)
	assert.Equal(t, []int{2, 4}, []int{out.Imported[0].Line, out.Imported[1].Line}, "the line each element starts on")
	assert.Equal(t, []int{1, 2}, []int{out.Imported[0].Element, out.Imported[1].Element})
	assert.Equal(t, "alice", out.Imported[0].Key.Owner)
	assert.Equal(t, map[string]string{"team": "infra"}, out.Imported[0].Key.Metadata)
	assert.Equal(t, "sk-Qb", out.Imported[1].Key.Start)
	assert.Nil(t, out.Imported[1].Key.ExpiresAt)
	require.NotNil(t, out.ServiceOption)
	assert.Equal(t, "apikey.WithImportedKeys(regexp.MustCompile(`"+oldShape+"`).MatchString)", *out.ServiceOption)
	shape := apikey.WithImportedKeys(regexp.MustCompile(oldShape).MatchString)
	p, err := c.verify(a, shape)
	require.NoError(t, err)
	assert.Equal(t, out.Imported[0].Key.ID, p.KeyID)
	assert.Equal(t, []string{"bots:read"}, p.Scopes())

	lines := writeFile(t, "keys.jsonl", `{"owner": "dave", "sha256": "`+base64.StdEncoding.EncodeToString(digestBytes(d))+`"}`+"\n\n"+
		`{"owner": "erin", "plaintext": "`+oldKey()+`"}`+"\n")
	r = c.run("import", lines, "--shape", oldShape, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out = importedOutput{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.Len(t, out.Imported, 2)
	assert.Equal(t, []int{1, 3}, []int{out.Imported[0].Line, out.Imported[1].Line})
	assert.Equal(t, 0, out.Imported[0].Element, "JSON lines have no elements")
	_, err = c.verify(d, shape)
	assert.NoError(t, err)

	// Keys of this library's shape need no option.
	mine := newEnv(t).create("--owner", "x").Plaintext
	r = c.run("import", writeFile(t, "mine.ndjson", `{"owner": "gina", "plaintext": "`+mine+`"}`))
	require.Equal(t, ExitOK, r.code, r.stderr)
	noKeysIn(t, r.stdout, mine)
	assert.Contains(t, r.stdout, "They have this library's shape: the service accepts them if it accepts their prefix.")
	p, err = c.verify(mine)
	require.NoError(t, err)
	assert.Equal(t, "gina", p.Owner)

	// Digests without --shape: the command says what the service needs.
	r = c.run("import", writeFile(t, "d.json", `[{"owner": "hal", "sha256": "`+hexDigest(oldKey())+`"}]`), "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	out = importedOutput{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.Nil(t, out.ServiceOption)
	r = c.run("import", writeFile(t, "e.json", `[{"owner": "hal", "sha256": "`+hexDigest(oldKey())+`"}]`))
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Unless they have this library's shape, the service verifies them only with\napikey.WithImportedKeys(match)")
}

// - reads standard input, which has no name to tell its format by.
func TestImportStdin(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	key := oldKey()
	cmd := process(t, nil, "import", "-", "--format", "csv", "--db", db, "--shape", oldShape)
	cmd.Stdin = strings.NewReader("owner,plaintext\nalice," + key + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(withheld(string(out))))
	noKeysIn(t, string(out), key)
	assert.Contains(t, string(out), "Imported 1 keys (1 by plaintext, 0 by SHA-256 digest) from standard input.")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	p, err := c.verify(key, apikey.WithImportedKeys(regexp.MustCompile(oldShape).MatchString))
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Owner)

	r := runProcess(t, nil, "import", "-", "--db", db)
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "apikey import: give --format csv or --format json to read standard input\nRun 'apikey help import' for usage.\n", r.stderr)
}

// A refused file stores nothing, and makes no database: every check comes
// before the database is opened. The refusal names the line (and the
// element of a JSON array), never a key or a digest.
func TestImportRefused(t *testing.T) {
	k1, k2 := oldKey(), oldKey()
	h1 := hexDigest(k1)
	mine := newEnv(t).create("--owner", "x").Plaintext
	for _, tt := range []struct {
		name, file, content string
		args                []string
		want                string
	}{
		{"no header", "a.csv", k1 + ",alice\n", nil, "line 1, column 1: a column's name is not one of: owner, name, description, scopes, expires_at, plaintext, sha256, start, metadata, or meta.KEY (it is not shown: it is as long as a key)"},
		{"unknown column", "a.csv", "owner,plain\nalice," + k1 + "\n", nil, `line 1, column 2: "plain" is not a column; the columns are: owner, name,`},
		{"no owner column", "a.csv", "name,plaintext\nci," + k1 + "\n", nil, "line 1: the first line names the columns, and they must include owner, and plaintext or sha256"},
		{"no key column", "a.csv", "owner,name\nalice,ci\n", nil, "line 1: the first line names the columns, and they must include owner, and plaintext or sha256"},
		{"column twice", "a.csv", "owner,sha256,Owner\n", nil, "line 1, column 3: owner is named twice"},
		{"wrong number of fields", "a.csv", "owner,plaintext\nalice," + k1 + "\nbob\n", nil, "line 3: wrong number of fields"},
		{"bare quote", "a.csv", "owner,name,plaintext\nalice,c\"i," + k1 + "\n", nil, `line 2: bare " in non-quoted-field`},
		{"bad time", "a.csv", "owner,expires_at,plaintext\nalice,tomorrow," + k1 + "\n", nil, "line 2: expires_at: want an RFC 3339 time such as 2027-01-31T00:00:00Z, or nothing for never"},
		{"zero time", "a.csv", "owner,expires_at,plaintext\nalice,0001-01-01T00:00:00Z," + k1 + "\n", nil, "line 2: expires_at: the zero time means never; leave it empty for that"},
		{"short digest", "a.csv", "owner,sha256\nalice," + h1[:62] + "\n", nil, "line 2: sha256: want the 32-byte SHA-256 digest in hex (64 characters) or base64 (43 or 44)"},
		{"not a digest", "a.csv", "owner,sha256\nalice," + strings.Repeat("z", 64) + "\n", nil, "line 2: sha256: want the 32-byte SHA-256 digest"},
		{"a plaintext as digest", "a.csv", "owner,sha256\nalice," + k1 + "\n", nil, "line 2: sha256: want the 32-byte SHA-256 digest"},
		{"both", "a.csv", "owner,plaintext,sha256\nalice," + k1 + "," + h1 + "\n", nil, "line 2: invalid input: give the plaintext or its SHA-256 digest, not both"},
		{"neither", "a.csv", "owner,plaintext,sha256\nalice,,\n", nil, "line 2: invalid input: give the key's plaintext or its SHA-256 digest"},
		{"twice in the file", "a.csv", "owner,plaintext,sha256\nalice," + k1 + ",\nbob," + k2 + ",\ncarol,," + h1 + "\n", nil, ""},
		{"no shape", "a.csv", "owner,plaintext\nalice," + k1 + "\n", []string{}, "line 2: the key does not have this library's shape (ak_…): give --shape with a regular expression that the old keys match, which the service will need too (apikey.WithImportedKeys)"},
		{"another shape", "a.csv", "owner,plaintext\nalice,pk-" + k1[3:] + "\n", nil, "line 2: the key does not match --shape, nor has it this library's shape (ak_…): widen --shape, or leave the row out"},
		{"too short", "a.csv", "owner,plaintext\nalice,sk-abc\n", []string{"--shape", "sk-[a-z]+"}, "line 2: invalid input: an imported key must be 16 to 256 characters"},
		{"key in the name", "a.csv", "owner,name,sha256\nalice," + k1 + "," + h1 + "\n", nil, "line 2: name matches --shape, so it looks like a key: is a column out of place? (only plaintext or sha256 may hold one; if it is no key, narrow --shape)"},
		{"library key in the owner", "a.csv", "owner,sha256\n" + mine + "," + h1 + "\n", nil, "line 2: owner looks like a key"},
		{"plaintext in the description", "a.csv", "owner,description,plaintext\nalice,\"was: " + k1 + "\"," + k1 + "\n", nil, "line 2: description looks like a key: is a column out of place? (only plaintext or sha256 may hold one)"},
		{"digest in the name", "a.csv", "owner,name,plaintext\nalice," + h1 + "," + k1 + "\n", nil, "line 2: name looks like a SHA-256 digest: is a column out of place? (only sha256 may hold one)"},
		{"key matching --shape in the owner", "a.csv", "owner,sha256\nsk-" + k2[3:] + "," + h1 + "\n", nil, "line 2: owner matches --shape, so it looks like a key"},
		{"key as a metadata key in JSON", "a.json", `[{"owner": "a", "sha256": "` + h1 + `", "metadata": {"` + k1 + `": 5}}]`, nil, "line 1 (element 1): metadata: want a string, not a JSON number"},
		{"key in metadata", "a.csv", "owner,meta.old,sha256\nalice," + k1 + "," + h1 + "\n", nil, "line 2: metadata matches --shape"},
		{"key in scopes", "a.json", `[{"owner": "alice", "scopes": ["` + k1 + `"], "sha256": "` + h1 + `"}]`, nil, "line 1 (element 1): scopes matches --shape"},
		{"bad metadata", "a.csv", "owner,metadata,sha256\nalice,team," + h1 + "\n", nil, "line 2: metadata: want k=v;k=v (a value holding ';' needs a meta.KEY column)"},
		{"metadata twice", "a.csv", "owner,metadata,meta.team,sha256\nalice,team=a,b," + h1 + "\n", nil, "line 2: metadata: a key is given twice"},
		{"no owner", "a.csv", "owner,sha256\n," + h1 + "\n", nil, "line 2: invalid input: owner is required"},
		{"long start", "a.csv", "owner,start,sha256\nalice,sk-0123456789ab," + h1 + "\n", nil, "line 2: invalid input: start is longer than 12 bytes"},
		{"bad scope", "a.json", `{"owner": "alice", "scopes": ["a\u0000b"], "sha256": "` + h1 + `"}`, nil, "line 1: invalid input: "},
		{"empty", "a.csv", "", nil, "no keys in "},
		{"header only", "a.csv", "owner,plaintext\n", nil, "no keys in "},
		{"empty array", "a.json", " [ ] ", nil, "no keys in "},
		{"unknown field", "a.json", "[\n {\"owner\": \"alice\", \"plain\": \"" + k1 + "\"}]", nil, `line 2 (element 1): "plain" is not a field; the fields are: owner, name, description, scopes, expires_at, plaintext, sha256, start, metadata`},
		{"a key as a field", "a.json", `[{"` + k1 + `": "alice"}]`, nil, "line 1 (element 1): a field's name is not one of:"},
		{"wrong type", "a.json", "[{\"owner\": \"a\", \"sha256\": \"" + h1 + "\"},\n\n {\"owner\": 5}]", nil, "line 3 (element 2): owner: want a string, not a JSON number"},
		{"scopes a string", "a.json", `[{"owner": "a", "scopes": "x y"}]`, nil, "line 1 (element 1): scopes: want a list of strings, not a JSON string"},
		{"metadata a list", "a.json", `[{"owner": "a", "metadata": ["x"]}]`, nil, "line 1 (element 1): metadata: want an object of strings, not a JSON array"},
		{"syntax", "a.json", "[\n{\"owner\": \"a\",, \"plaintext\": \"" + k1 + "\"}]", nil, "line 2 (element 1): not valid JSON: invalid character ','"},
		{"cut short", "a.json", "[{\"owner\": \"a\", \"plaintext\": \"" + k1, nil, "line 1 (element 1): the JSON ends too soon"},
		{"not an object", "a.json", `[{"owner": "a", "sha256": "` + h1 + `"}, 7]`, nil, "line 1 (element 2): want an object"},
		{"not JSON of keys", "a.json", `"` + k1 + `"`, nil, "line 1: want a JSON array of objects, or one object a line"},
		{"after the array", "a.json", "[]\n[]", nil, "line 2: more after the array's end"},
		{"bad digest in JSON", "a.jsonl", "{\"owner\": \"a\", \"sha256\": \"" + h1 + "\"}\n{\"owner\": \"b\", \"sha256\": \"" + k1 + "\"}\n", nil, "line 2: sha256: want the 32-byte SHA-256 digest"},
		{"bad time in JSON", "a.jsonl", `{"owner": "a", "sha256": "` + h1 + `", "expires_at": "2027-13-01T00:00:00Z"}`, nil, "line 1: expires_at: want an RFC 3339 time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newEnv(t)
			args := tt.args
			if args == nil {
				args = []string{"--shape", oldShape}
			}
			file := writeFile(t, tt.file, tt.content)
			r := c.run(append([]string{"import", file}, args...)...)
			noKeysIn(t, r.stdout+r.stderr, k1, k2, mine)
			assert.Equal(t, ExitFailed, r.code, withheld(r.stderr))
			want := tt.want
			if tt.name == "twice in the file" {
				want = "line 4: the same key as line 2"
			}
			assert.True(t, strings.HasPrefix(r.stderr, "apikey import: "+want), withheld(r.stderr))
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %s", withheld(r.stderr))
			assert.Empty(t, r.stdout)
			_, err := os.Stat(c.db)
			assert.True(t, os.IsNotExist(err), "the database was opened")
		})
	}
}

// Mistakes on the command line are usage errors, found before the file is
// read or the database opened.
func TestImportUsage(t *testing.T) {
	c := newEnv(t)
	csv := writeFile(t, "k.csv", "owner,sha256\nalice,"+hexDigest(oldKey())+"\n")
	txt := writeFile(t, "k.txt", "owner,sha256\nalice,"+hexDigest(oldKey())+"\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "apikey import: missing FILE"},
		{[]string{"import", csv, csv}, "apikey import: unexpected argument"},
		{[]string{"import", csv, "--format", "xml"}, "apikey import: --format is csv or json"},
		{[]string{"import", txt}, "apikey import: give --format csv or --format json: the file's name does not end in .csv, .json, .jsonl or .ndjson"},
		{[]string{"import", csv, "--shape", "sk-(["}, "apikey import: --shape is not a regular expression: missing closing ]"},
		{[]string{"import", csv, "--shape", ""}, "apikey import: --shape is empty: give a regular expression that the old keys match"},
		{[]string{"import", csv, "--shape", "sk-.*|"}, "apikey import: --shape matches the empty string: it must match the old keys and nothing else"},
		{[]string{"import", csv, "--dry-run=perhaps"}, `apikey import: invalid value "perhaps" for --dry-run: want true or false`},
		{[]string{"import", csv, "--owner", "a"}, "apikey import: unknown flag --owner"},
	} {
		r := c.run(tt.args...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.True(t, strings.HasPrefix(r.stderr, tt.want), "%v: %s", tt.args, r.stderr)
		assert.Empty(t, r.stdout)
	}
	r := c.run("import", filepath.Join(t.TempDir(), "gone.csv"))
	assert.Equal(t, ExitFailed, r.code)
	assert.Regexp(t, `^apikey import: reading \S+gone.csv: no such file or directory\n$`, r.stderr)
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "usage errors are found before the database is opened")

	r = c.run("import", txt, "--format", "CSV")
	assert.Equal(t, ExitOK, r.code, "--format names the format of any file: %s", r.stderr)
	h := c.runRaw("help", "import").stdout
	for _, want := range []string{"Usage: apikey import [flags] FILE", "--format format", "--shape regexp", "--dry-run", "meta.KEY", "JSON lines"} {
		assert.Contains(t, h, want)
	}
}

// --shape is anchored, so it matches whole keys only, and printed as the
// service must pass it.
func TestImportShape(t *testing.T) {
	for in, want := range map[string]string{
		`sk-[A-Za-z0-9]{48}`:   `^sk-[A-Za-z0-9]{48}$`,
		`^sk-[A-Za-z0-9]{48}$`: `^sk-[A-Za-z0-9]{48}$`,
		`^sk-\w+`:              `^sk-\w+$`,
		`sk-\w+\$`:             `^sk-\w+\$$`,
	} {
		re, err := compileShape(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, re.String(), in)
	}
	re, err := compileShape("sk-`[a-z]{20}")
	require.NoError(t, err)
	assert.Equal(t, "apikey.WithImportedKeys(regexp.MustCompile(\"^sk-`[a-z]{20}$\").MatchString)", goOption(re),
		"a backquote cannot be in a raw string literal")

	c := newEnv(t)
	key := oldKey()
	r := c.run("import", writeFile(t, "k.csv", "owner,plaintext\nalice,xx"+key+"\n"), "--shape", `sk-[A-Za-z0-9]{48}`)
	assert.Equal(t, ExitFailed, r.code, "an unanchored shape would take this")
	assert.Contains(t, r.stderr, "line 2: the key does not match --shape")
}

// --shape with alternatives is anchored around all of them: "a|b" taken
// as "^a|b$" would match any text that starts with a key of the first
// shape, or ends with one of the second, and the service would look up
// each such credential.
func TestImportShapeAnchorsEveryAlternative(t *testing.T) {
	re, err := compileShape(`sk-[a-z]{20}|legacy-[0-9]{16}`)
	require.NoError(t, err)
	assert.True(t, re.MatchString("sk-"+strings.Repeat("a", 20)))
	assert.True(t, re.MatchString("legacy-"+strings.Repeat("1", 16)))
	for _, s := range []string{
		"sk-" + strings.Repeat("a", 20) + ".anything.after",
		"eyJhbGciOiJIUzI1NiJ9.legacy-" + strings.Repeat("1", 16),
	} {
		assert.False(t, re.MatchString(s), "%s: the shape matches whole keys only", s)
	}
	re, err = compileShape(`^sk-[a-z]{20}|legacy-[0-9]{16}$`)
	require.NoError(t, err)
	assert.False(t, re.MatchString("sk-"+strings.Repeat("a", 20)+"x"), "anchors given around alternatives hold for each")
}

// A key the table holds already is found before anything is stored.
func TestImportFindsStoredKeys(t *testing.T) {
	c := newEnv(t)
	k1, k2, k3 := oldKey(), oldKey(), oldKey()
	var out importedOutput
	r := c.run("import", writeFile(t, "a.csv", "owner,plaintext\nalice,"+k1+"\n"), "--shape", oldShape, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	id := out.Imported[0].Key.ID

	for _, content := range []string{
		"owner,plaintext,sha256\nbob," + k2 + ",\ncarol,," + hexDigest(k1) + "\ndave," + k3 + ",\n",
		"owner,plaintext,sha256\nbob," + k2 + ",\ncarol," + k1 + ",\ndave," + k3 + ",\n",
	} {
		r = c.run("import", writeFile(t, "b.csv", content), "--shape", oldShape)
		assert.Equal(t, ExitFailed, r.code)
		assert.Equal(t, "apikey import: line 3: the key is stored already, as key "+id+"; no key was imported\n", r.stderr)
		noKeysIn(t, r.stdout+r.stderr, k1, k2, k3)
		assert.Empty(t, r.stdout)
	}
	var list []keyjson.Key
	require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--json")), &list))
	assert.Len(t, list, 1, "nothing was stored")
	_, err := c.verify(k2, apikey.WithImportedKeys(regexp.MustCompile(oldShape).MatchString))
	assert.ErrorIs(t, err, apikey.ErrUnknownKey)
}

// Should the database refuse a key midway, the command lists exactly the
// keys it stored, names the line that failed, and exits 1.
func TestImportFailsMidway(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			c := newEnv(t)
			c.ok("migrate")
			_, err := sqlDB(t, c.db).Exec(`CREATE TRIGGER refuse BEFORE INSERT ON ` + c.table +
				` WHEN NEW.owner = 'refused' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END`)
			require.NoError(t, err)
			keys := []string{oldKey(), oldKey(), oldKey(), oldKey()}
			file := writeFile(t, "k.csv", "owner,plaintext\nalice,"+keys[0]+"\nbob,"+keys[1]+"\n\nrefused,"+keys[2]+"\ndave,"+keys[3]+"\n")
			args := []string{"import", file, "--shape", oldShape}
			if asJSON {
				args = append(args, "--json")
			}
			r := c.run(args...)
			noKeysIn(t, r.stdout+r.stderr, keys...)
			assert.Equal(t, ExitFailed, r.code)
			assert.Regexp(t, `^apikey import: line 5: creating key \w+: .*refused by a trigger.*; the 2 keys before it, listed above, were stored, and no key after them\n$`, r.stderr)

			var list []keyjson.Key
			require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--json")), &list))
			require.Len(t, list, 2)
			if asJSON {
				var out importedOutput
				require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
				require.Len(t, out.Imported, 2)
				for i, line := range []int{2, 3} {
					assert.Equal(t, line, out.Imported[i].Line)
					assert.Equal(t, list[i].ID, out.Imported[i].Key.ID)
				}
			} else {
				assert.Regexp(t, `Imported 2 keys \(2 by plaintext, 0 by SHA-256 digest\) from \S+\.\n\n`+
					`LINE +ID +START +OWNER +NAME +EXPIRES\n2 +`+list[0].ID+` +\S+ +alice +- +never\n3 +`+list[1].ID+` +\S+ +bob +- +never\n\n`, r.stdout)
			}
		})
	}
}

// --dry-run makes every check, and stores nothing, nor makes a database.
func TestImportDryRun(t *testing.T) {
	c := newEnv(t)
	k1, k2 := oldKey(), oldKey()
	file := writeFile(t, "k.csv", "owner,name,plaintext,sha256\nalice,ci,"+k1+",\nbob,,,"+hexDigest(k2)+"\n")
	r := c.run("import", file, "--shape", oldShape, "--dry-run")
	require.Equal(t, ExitOK, r.code, r.stderr)
	noKeysIn(t, r.stdout+r.stderr, k1, k2)
	assert.Empty(t, r.stderr)
	assert.Contains(t, r.stdout, "Checked 2 keys (1 by plaintext, 1 by SHA-256 digest) in "+file+": all would be imported. Nothing was stored (--dry-run).\n\n")
	assert.Regexp(t, `LINE +START +OWNER +NAME +EXPIRES\n2 +`+k1[:8]+` +alice +ci +never\n3 +- +bob +- +never\n`, r.stdout)
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "a dry run makes no database")

	c.ok("migrate")
	c.ok("list") // a read-only connection leaves SQLite's -shm and -wal files
	dir := filepath.Dir(c.db)
	before := files(t, dir)
	var out importedOutput
	r = c.run("import", file, "--shape", oldShape, "--dry-run", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.True(t, out.DryRun)
	require.Len(t, out.Imported, 2)
	assert.Empty(t, out.Imported[0].Key.ID, "no key was stored, so none has an ID")
	assert.Equal(t, "alice", out.Imported[0].Key.Owner)
	after := files(t, dir)
	assert.ElementsMatch(t, slices.Collect(maps.Keys(before)), slices.Collect(maps.Keys(after)), "a dry run adds no file")
	assert.True(t, bytes.Equal(before["keys.db"], after["keys.db"]) && bytes.Equal(before["keys.db-wal"], after["keys.db-wal"]),
		"a dry run changes no byte of the database")

	// It finds what a real import would refuse.
	r = c.run("import", file, "--shape", oldShape)
	require.Equal(t, ExitOK, r.code, r.stderr)
	r = c.run("import", file, "--shape", oldShape, "--dry-run")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "apikey import: line 2: the key is stored already, as key ")
	r = c.run("import", writeFile(t, "bad.csv", "owner,plaintext\nalice,"+k1[:20]+"\n"), "--dry-run")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "line 2: the key does not have this library's shape")
}

// serverEnvs returns a command environment on a throw-away table of each
// server whose DSN is set, dropped when the test ends.
func serverEnvs(t *testing.T) map[string]func(t *testing.T) *cmdEnv {
	return map[string]func(t *testing.T) *cmdEnv{
		"postgres": func(t *testing.T) *cmdEnv { return serverEnv(t, testkit.Need(t, testkit.EnvPostgres)) },
		"mysql":    func(t *testing.T) *cmdEnv { return serverEnv(t, mysqlURL(t, testkit.Need(t, testkit.EnvMySQL))) },
	}
}

func serverEnv(t *testing.T, setting string) *cmdEnv {
	c := &cmdEnv{t: t, db: setting, table: "apikey_cli_" + strings.ToLower(rand.Text()[:10])}
	t.Cleanup(func() {
		db, dialect, err := dbopen.Open(context.Background(), c.db)
		require.NoError(t, err)
		defer db.Close()
		assert.NoError(t, sqltest.Drop(context.Background(), db, dialect, c.table))
	})
	return c
}

// Metering, owner policies and import on PostgreSQL and MySQL, when their
// DSNs are set.
func TestServersMeteringAndImport(t *testing.T) {
	for name, newEnv := range serverEnvs(t) {
		t.Run(name, func(t *testing.T) {
			c := newEnv(t)
			plain, k := c.createKey("--owner", "acme", "--limit", "burst=1/1h", "--refill", "5/monthly@31", "--roll-over")
			assert.Equal(t, []keyjson.RateLimit{{Name: "burst", Limit: 1, Window: "1h0m0s"}}, k.RateLimits)
			assert.Equal(t, &keyjson.Refill{Amount: 5, Interval: "monthly", Day: 31, RollOver: true}, k.Refill)
			_, err := c.verify(plain)
			require.NoError(t, err)
			j := c.showKey(k.ID)
			assert.Equal(t, int64(4), *j.RemainingUses)
			assert.Equal(t, int64(1), j.UsesSpent)
			c.ok("update", k.ID, "--no-limits", "--credits", "9", "--no-refill")
			j = c.showKey(k.ID)
			assert.Empty(t, j.RateLimits)
			assert.Nil(t, j.Refill)
			assert.Equal(t, int64(9), *j.RemainingUses)

			c.ok("owner", "set", "acme", "--limit", "shared=2/1h", "--credits", "10", "--max-keys", "2")
			var o keyjson.Owner
			require.NoError(t, json.Unmarshal([]byte(c.ok("owner", "show", "acme", "--json")), &o))
			assert.Equal(t, 2, o.MaxKeys)
			assert.Equal(t, int64(10), *o.RemainingUses)
			assert.Contains(t, c.ok("owner", "list"), "acme")
			c.createKey("--owner", "acme")
			r := c.run("create", "--owner", "acme")
			assert.Equal(t, ExitFailed, r.code)
			assert.Contains(t, r.stderr, "owner has as many keys as allowed")
			c.ok("owner", "delete", "acme")

			keys := []string{oldKey(), oldKey()}
			file := writeFile(t, "k.csv", "owner,scopes,plaintext,sha256\nalice,bots:read,"+keys[0]+",\nbob,,,"+hexDigest(keys[1])+"\n")
			r = c.run("import", file, "--shape", oldShape)
			require.Equal(t, ExitOK, r.code, r.stderr)
			noKeysIn(t, r.stdout+r.stderr, keys...)
			shape := apikey.WithImportedKeys(regexp.MustCompile(oldShape).MatchString)
			for i, owner := range []string{"alice", "bob"} {
				p, err := c.verify(keys[i], shape)
				require.NoError(t, err)
				assert.Equal(t, owner, p.Owner)
			}
			r = c.run("import", file, "--shape", oldShape)
			assert.Equal(t, ExitFailed, r.code)
			assert.Contains(t, r.stderr, "line 2: the key is stored already")
		})
	}
}
