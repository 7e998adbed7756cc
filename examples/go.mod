module github.com/go-apikey/apikey/examples

go 1.26.0

replace github.com/go-apikey/apikey => ..

replace github.com/go-apikey/apikey/internal/cli => ../internal/cli

replace github.com/go-apikey/apikey/pgfeed => ../pgfeed

replace github.com/go-apikey/apikey/pollfeed => ../pollfeed

replace github.com/go-apikey/apikey/redisfeed => ../redisfeed

require (
	github.com/alexedwards/scs/v2 v2.9.0
	github.com/go-apikey/apikey v0.0.0-00010101000000-000000000000
	github.com/go-apikey/apikey/internal/cli v0.0.0-00010101000000-000000000000
	github.com/go-apikey/apikey/pgfeed v0.0.0-00010101000000-000000000000
	github.com/go-apikey/apikey/pollfeed v0.0.0-00010101000000-000000000000
	github.com/go-chi/chi/v5 v5.5.0
	github.com/go-chi/cors v1.2.2
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/jackc/pgx/v5 v5.12.0
	github.com/stretchr/testify v1.12.1
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/go-apikey/apikey/redisfeed v0.0.0-00010101000000-000000000000 // indirect
	github.com/go-sql-driver/mysql v1.10.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)
