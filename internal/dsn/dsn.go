// Package dsn reads the MySQL settings this repository accepts, in either
// of the two forms users write them, without importing a driver: the
// command (through dbopen) and the tests' APIKEY_MYSQL_DSN both use it, so
// both take the same settings.
//
//	mysql://user:pass@host:3306/db?parseTime=true   a URL
//	user:pass@tcp(host:3306)/db?parseTime=true      a go-sql-driver/mysql DSN
package dsn

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// mysqlDriverDSN matches the part of a go-sql-driver DSN no file path or
// URL has: the network and its address, after the user or at the start,
// or, with neither, the '@' before the database name (user@/db).
var mysqlDriverDSN = regexp.MustCompile(`(^|@)(tcp|tcp4|tcp6|unix)\(|@/[^/]*$`)

// IsMySQLDSN reports whether s is written as a go-sql-driver/mysql DSN,
// such as user:pass@tcp(host:3306)/db.
func IsMySQLDSN(s string) bool {
	return !strings.Contains(s, "://") && mysqlDriverDSN.MatchString(s)
}

// SplitMySQLDSN splits a go-sql-driver DSN into its user information
// (user:pass, "" when there is none) and the rest after the '@'. The
// password may hold any character, '@' and ':' included: it ends at the
// '@' before the address, as the driver reads it. ok is false when s is
// not such a DSN.
func SplitMySQLDSN(s string) (userinfo, rest string, ok bool) {
	if !IsMySQLDSN(s) {
		return "", "", false
	}
	loc := mysqlDriverDSN.FindStringIndex(s)
	if s[loc[0]] != '@' {
		return "", s, true
	}
	return s[:loc[0]], s[loc[0]+1:], true
}

// IsMySQLURL reports whether s is a mysql:// URL.
func IsMySQLURL(s string) bool {
	return len(s) >= len("mysql://") && strings.EqualFold(s[:len("mysql://")], "mysql://")
}

// MySQL returns setting as a go-sql-driver/mysql DSN: a mysql:// URL is
// converted (the port defaults to 3306), and anything else is returned as
// it is, for the driver to read. Its errors never hold the password.
func MySQL(setting string) (string, error) {
	if !IsMySQLURL(setting) {
		return setting, nil
	}
	u, err := url.Parse(setting)
	if err != nil {
		// url.Error quotes the whole URL, password included.
		return "", errors.New("bad mysql:// URL (is a special character in the password not percent-encoded?)")
	}
	if u.Hostname() == "" {
		return "", errors.New("mysql:// URL needs a host, as in mysql://user@127.0.0.1:3306/db")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", errors.New("mysql:// URL needs one database name, as in mysql://user@127.0.0.1:3306/db")
	}
	user := u.User.Username()
	if strings.Contains(user, ":") {
		return "", errors.New("mysql:// URL: a MySQL user name cannot hold a ':'")
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	var b strings.Builder
	if u.User != nil {
		b.WriteString(user)
		if pass, ok := u.User.Password(); ok {
			// The driver takes the password raw: it ends at the last '@'
			// before the address.
			b.WriteString(":" + pass)
		}
		b.WriteString("@")
	}
	b.WriteString("tcp(" + net.JoinHostPort(u.Hostname(), port) + ")/" + url.PathEscape(db))
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "", errors.New("bad mysql:// URL parameters: " + err.Error())
		}
		// Encoded again: the driver splits the DSN at its last '/', so
		// one left raw in a value (loc=Europe/Paris) would break it.
		b.WriteString("?" + q.Encode())
	}
	return b.String(), nil
}
