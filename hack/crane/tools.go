//go:build tools

// The one package this module builds: crane's command.
package tools

import _ "github.com/google/go-containerregistry/cmd/crane"
