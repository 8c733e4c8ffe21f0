module hull

go 1.26.8

require (
	github.com/google/uuid v1.6.0
	github.com/klauspost/compress v1.20.3
	github.com/opencontainers/runtime-spec v1.2.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)
