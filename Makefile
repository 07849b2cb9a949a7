# The one test command (README): formatting, vet, and every test with the
# race detector; then the delivery engine's suite again on PostgreSQL (it
# skips, loudly, without a server unless SWITCHHOOK_REQUIRE_POSTGRES=1).
# Needs sipp (Debian: sip-tester), chromium, baresip and linphonec (Debian:
# linphone-cli); .ci/run installs them on a fresh machine.
.PHONY: test build bench

build:
	CGO_ENABLED=0 go build -o switchhook ./cmd/switchhook

test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go test -race -count=1 -timeout 40m ./...
	SWITCHHOOK_TEST_STORE=postgres go test -race -count=1 -timeout 10m ./internal/delivery

bench:
	go test -run '^$$' -bench . -benchmem ./...
