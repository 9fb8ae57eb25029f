package slackbot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify. It must never
// panic, must return one of the typed errors, and must accept only a
// request whose signature is the real one for its timestamp header and body,
// with the timestamp inside the window. Seeds live in
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	body := []byte(commandBody("@dana"))
	ts, sig := Sign(testSecret, testNow, body)
	f.Add(ts, sig, body)
	f.Add("", "", []byte{})
	f.Add(ts, "v0=", body)
	f.Add("99999999999999999999", sig, body)

	f.Fuzz(func(t *testing.T, tsHeader, sigHeader string, body []byte) {
		v := NewVerifier(testSecret, fixedClock)
		err := v.Verify(headers(tsHeader, sigHeader), body)
		if err != nil {
			switch {
			case errors.Is(err, ErrUnsigned), errors.Is(err, ErrStale), errors.Is(err, ErrForged):
			default:
				t.Fatalf("untyped error %v", err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error text contains the secret")
			}
			return
		}
		if real := "v0=" + oracleMAC(tsHeader, body); !strings.EqualFold(sigHeader, real) {
			t.Fatalf("accepted a signature that is not the real one (ts %q)", tsHeader)
		}
		n, ok := parseTimestamp(tsHeader)
		if !ok {
			t.Fatalf("accepted an unparseable timestamp %q", tsHeader)
		}
		if d := testNow.Sub(time.Unix(n, 0)); d > MaxSkew || d < -MaxSkew {
			t.Fatalf("accepted a timestamp %s off", d)
		}
		if err := v.Verify(headers(tsHeader, sigHeader), body); !errors.Is(err, ErrReplayed) {
			t.Fatalf("second delivery: %v, want ErrReplayed", err)
		}
	})
}

// oracleMAC is Slack's scheme written out independently of Verify: hex
// HMAC-SHA256 of "v0:<timestamp header as sent>:<body>".
func oracleMAC(tsHeader string, body []byte) string {
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte("v0:" + tsHeader + ":"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestFuzzSeedsMeanWhatTheySay checks the committed corpus: files named
// valid_* verify, every other one is refused.
func TestFuzzSeedsMeanWhatTheySay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzVerify", "*"))
	if err != nil || len(files) < 10 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 4 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a fuzz corpus file", file)
		}
		var vals [3]string
		for i, l := range lines[1:] {
			l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(l, "string("), "[]byte("), ")")
			if vals[i], err = strconv.Unquote(l); err != nil {
				t.Fatalf("%s line %d: %v", file, i+2, err)
			}
		}
		err = NewVerifier(testSecret, fixedClock).Verify(headers(vals[0], vals[1]), []byte(vals[2]))
		if valid := strings.HasPrefix(filepath.Base(file), "valid_"); valid != (err == nil) {
			t.Errorf("%s: Verify = %v", filepath.Base(file), err)
		}
	}
}
