// Package teams holds Kinetic's Microsoft Teams app package: manifest.json
// and its two icons (color.png, 192x192; outline.png, 32x32 white on
// transparent). docs/teams.md says how to fill in the manifest's
// {{PLACEHOLDERS}}, zip it with the icons and install it.
//
// The icons are drawn by gen_icons.go; run `go generate ./deployments/teams`
// after changing it and commit the PNGs. manifest_test.go validates the
// manifest against Microsoft's manifest JSON schema (testdata/).
package teams

//go:generate go run gen_icons.go
