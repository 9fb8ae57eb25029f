package scim

import (
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/hrspec"
)

// Descriptor describes the scim directory source type for configuration
// (its block, validation and URLs) and builds it.
func Descriptor() directory.Descriptor {
	return directory.Descriptor{
		Spec: hrspec.Directory{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			URLs:     func(b any) map[string]string { return b.(*Config).BaseURLs() },
		},
		New: func(b any, deps directory.Deps) (directory.Directory, error) {
			s, err := New(*b.(*Config), Options{HTTP: deps.HTTP, TTL: deps.TTL, Log: deps.Log})
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
