// Package migrations holds gpfed's numbered SQL schema migrations, embedded
// into the binary so `gpfed migrate` and every test database use the same files.
package migrations

import "embed"

// FS holds the *.sql files, applied in lexical order of their names.
//
//go:embed *.sql
var FS embed.FS
