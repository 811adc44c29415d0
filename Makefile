# kvmtest's test targets. `make test` is what the README and CI run.

GO ?= go

.PHONY: test test-unit test-e2e lint build fuzz

test: lint test-unit fuzz test-e2e

build:
	$(GO) build -o bin/kvmtest ./cmd/kvmtest

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

# Fast tests: no kernel build, no VM.
test-unit:
	$(GO) test -count=1 ./...

# A short fuzz run of the matrix loader (no panic, no hang, bounded memory).
fuzz:
	$(GO) test ./matrices -run '^$$' -fuzz FuzzLoad -fuzztime 10000x -parallel 1

# End to end: builds the real 6.12 kernel from Debian's tarball (cached in
# ~/.cache/kvmtest), boots it in QEMU and runs the real guest suites.
test-e2e:
	KVMTEST_E2E=1 $(GO) test -count=1 -v -timeout 85m ./e2e/
