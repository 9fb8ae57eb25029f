package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// The seed corpora under testdata/fuzz/ hold the example and embedded
// files; the invalid test files are added here as further seeds.

func addInvalidSeeds(f *testing.F, prefix string) {
	files, _ := filepath.Glob("testdata/invalid/" + prefix + "*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseService checks that no service file makes the parser panic, and
// that a failure is always *Errors.
func FuzzParseService(f *testing.F) {
	addInvalidSeeds(f, "service-")
	f.Fuzz(func(t *testing.T, data []byte) {
		svc, err := ParseService("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(*Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if svc != nil {
				t.Fatal("a Service returned with an error")
			}
		}
	})
}

// FuzzParsePolicy checks that no policy file makes the parser or Select
// panic.
func FuzzParsePolicy(f *testing.F) {
	addInvalidSeeds(f, "policy-")
	data, err := EmbeddedFile(embeddedServiceName)
	if err != nil {
		f.Fatal(err)
	}
	svc, err := ParseService(embeddedServiceName, data)
	if err != nil {
		f.Fatal(err)
	}
	emp := sampleEmployee()
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := ParsePolicy("fuzz.yaml", data, svc)
		if err != nil {
			if _, ok := err.(*Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		_, _ = pol.Select(&emp, Facts{Involuntary: true, Trigger: "slack"})
	})
}
