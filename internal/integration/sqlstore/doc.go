// Package sqlstore holds the tests of apikey.SQLStore and of the Manager
// on it that need real database drivers (SQLite, and PostgreSQL and
// MariaDB when APIKEY_POSTGRES_DSN and APIKEY_MYSQL_DSN name servers):
// they live in a module of their own, so the core module requires no
// driver. It has no code.
package sqlstore
