package evidence

import (
	"crypto/ed25519"
	"testing"
)

// FuzzVerify: a report and a .sig from outside never panic Verify, and
// nothing verifies against a key that signed nothing.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("%PDF-1.3 "+markOpen+"e30="+markClose), []byte(`{"alg":"Ed25519","key_id":"00","sha256":"00","signature":"AAAA"}`))
	f.Add([]byte("<html>"+markOpen+markClose), []byte(`{}`))
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, report, sig []byte) {
		if _, err := Verify(report, sig, pub); err == nil {
			t.Fatal("a report verified against a key that signed nothing")
		}
		_, _ = Extract(report)
	})
}
