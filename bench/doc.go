// Package bench compares apikey with what a Go team would otherwise use,
// in one `go test -bench` run: a hand-written minimal middleware, echo's
// KeyAuth, fiber's keyauth, and the tutorial pattern of bcrypt-checking
// every request. It is a module of its own so that the library's go.mod
// never requires the peers. The load test lives in ./load.
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 6 | tee peers.txt
//	benchstat -col /impl peers.txt
package bench
