module hull

go 1.26.8

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/opencontainers/runtime-spec v1.2.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0 // indirect
)
