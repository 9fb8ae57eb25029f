package configs

import (
	"embed"
	"io/fs"
)

// The embedded default configuration: the service file, the example policy
// it names and the sample directory.
//
//go:embed embedded.yaml policy.example.yaml directory.sample.json
var embeddedFiles embed.FS

const (
	embeddedServiceName   = "embedded.yaml"
	embeddedDirectoryName = "directory.sample.json"
)

var (
	embeddedFS      fs.FS = embeddedFiles
	embeddedService       = mustRead(embeddedServiceName)
)

func mustRead(name string) []byte {
	b, err := embeddedFiles.ReadFile(name)
	if err != nil {
		panic(err) // unreachable: go:embed guarantees the file
	}
	return b
}

// EmbeddedFile returns one of the embedded default files (embedded.yaml,
// policy.example.yaml, directory.sample.json), e.g. for `kinetic config
// show --default`.
func EmbeddedFile(name string) ([]byte, error) { return embeddedFiles.ReadFile(name) }
