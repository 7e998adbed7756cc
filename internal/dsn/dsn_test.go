package dsn

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMySQL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mysql://root@127.0.0.1:3306/test", "root@tcp(127.0.0.1:3306)/test"},
		{"MySQL://root@db/test", "root@tcp(db:3306)/test"},
		{"mysql://db/test", "tcp(db:3306)/test"},
		{"mysql://u:p%40ss%2Fw%3A@[::1]:3307/app", "u:p@ss/w:@tcp([::1]:3307)/app"},
		{"mysql://u:@db/app", "u:@tcp(db:3306)/app"},
		{"mysql://u@db/my%20app?loc=Europe/Paris&parseTime=true", "u@tcp(db:3306)/my%20app?loc=Europe%2FParis&parseTime=true"},
		// A DSN, or anything else, is the driver's to read.
		{"root@tcp(127.0.0.1:3306)/test?parseTime=true", "root@tcp(127.0.0.1:3306)/test?parseTime=true"},
		{"keys.db", "keys.db"},
	}
	for _, tt := range tests {
		got, err := MySQL(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestMySQLRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://u:hun ter2@d b/app":    "bad mysql:// URL",
		"mysql:///app":                  "needs a host",
		"mysql://u:hunter2@db/":         "one database name",
		"mysql://u:hunter2@db/a/b":      "one database name",
		"mysql://u%3Ax:hunter2@db/app":  "cannot hold a ':'",
		"mysql://u:hunter2@db/app?a=%z": "parameters",
	} {
		_, err := MySQL(in)
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), want, in)
		assert.NotContains(t, err.Error(), "hunter2", in)
	}
}

func TestSplitMySQLDSN(t *testing.T) {
	tests := []struct {
		in             string
		userinfo, rest string
		ok             bool
	}{
		{"root:pw@tcp(h:3306)/db", "root:pw", "tcp(h:3306)/db", true},
		{"root:p@ss:w@tcp(h:3306)/db", "root:p@ss:w", "tcp(h:3306)/db", true},
		{"root:p@/ss@tcp(h:3306)/db", "root:p@/ss", "tcp(h:3306)/db", true},
		{"root@unix(/run/mysqld.sock)/db", "root", "unix(/run/mysqld.sock)/db", true},
		{"tcp(h:3306)/db", "", "tcp(h:3306)/db", true},
		{"root:pw@/db", "root:pw", "/db", true},
		{"mysql://root:pw@h/db", "", "", false},
		{"/var/lib/keys.db", "", "", false},
		{"keys.db", "", "", false},
	}
	for _, tt := range tests {
		userinfo, rest, ok := SplitMySQLDSN(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.userinfo, userinfo, tt.in)
		assert.Equal(t, tt.rest, rest, tt.in)
	}
}
