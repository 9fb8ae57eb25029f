package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/kineticsec/kinetic/store"
)

// SigAlg is the only signature algorithm reports use.
const SigAlg = "Ed25519"

// Signature is a report's detached signature, written as JSON to
// FILE.sig. Signature is Ed25519 over the report file's exact bytes, so
// changing any byte of it — text, embedded evidence, metadata — fails
// verification.
type Signature struct {
	Alg string `json:"alg"`
	// KeyID is the first 16 hex digits of the SHA-256 of the public key's
	// DER (SubjectPublicKeyInfo), to tell keys apart; it is not trusted.
	KeyID string `json:"key_id"`
	// SHA256 is the report file's digest (hex), for people comparing
	// copies; the signature covers the file itself.
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"` // base64
}

// Errors of Verify, for errors.Is.
var (
	// ErrBadSignature: the signature does not verify with the trusted key
	// (the file changed, or another key signed it).
	ErrBadSignature = errors.New("report signature does not verify")
	// ErrBadEvidence: the signature holds but the embedded chain excerpt
	// does not verify.
	ErrBadEvidence = errors.New("report evidence does not verify")
)

// ParsePrivateKey reads an Ed25519 private key from PEM ("PRIVATE KEY",
// PKCS #8, as `openssl genpkey -algorithm ed25519` writes it). Errors
// never include the key.
func ParsePrivateKey(pemText string) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(pemText))
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PEM \"PRIVATE KEY\" block (PKCS #8 Ed25519, openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("the PRIVATE KEY block is not PKCS #8")
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T, want Ed25519", k)
	}
	return ek, nil
}

// ParsePublicKey reads an Ed25519 public key from PEM ("PUBLIC KEY",
// SubjectPublicKeyInfo, as `openssl pkey -pubout` writes it).
func ParsePublicKey(pemText []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(pemText)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("want a PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T, want Ed25519", k)
	}
	return ek, nil
}

// MarshalPublicKey writes pub as PEM "PUBLIC KEY".
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func keyID(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:8])
}

// Sign returns the detached signature of report, as FILE.sig holds it.
func Sign(report []byte, key ed25519.PrivateKey) []byte {
	d := sha256.Sum256(report)
	sig := Signature{Alg: SigAlg, KeyID: keyID(key.Public().(ed25519.PublicKey)), SHA256: hex.EncodeToString(d[:]),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, report))}
	b, _ := json.MarshalIndent(sig, "", "  ")
	return append(b, '\n')
}

// Result is what Verify found.
type Result struct {
	KeyID string
	// Evidence is the embedded evidence (once the signature holds).
	Evidence *Evidence
	// LastHash is the hash of the case's last event, re-computed from the
	// excerpt (case reports).
	LastHash string
	// PagesMatch is true when rendering the embedded evidence again gives
	// the report's exact bytes: what the pages show is the evidence, not
	// text edited beside it. Rendering is deterministic within a Kinetic
	// version; a report made by another version may differ, so this is
	// reported rather than required.
	PagesMatch bool
}

// Verify checks a report: sig (FILE.sig's content) must be an Ed25519
// signature by pub over report's exact bytes; then the embedded evidence
// is read and, for a case report, its chain excerpt re-verified event by
// event (store.VerifyExcerpt), and the excerpt must belong to the case
// the report describes.
func Verify(report, sig []byte, pub ed25519.PublicKey) (*Result, error) {
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(sig))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: the .sig file does not parse: %v", ErrBadSignature, err)
	}
	if s.Alg != SigAlg {
		return nil, fmt.Errorf("%w: alg %q, want %s", ErrBadSignature, s.Alg, SigAlg)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the signature is not %d bytes of base64", ErrBadSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, report, raw) {
		d := sha256.Sum256(report)
		why := "the report's bytes changed since it was signed"
		if s.KeyID != keyID(pub) {
			why = "it was signed by key " + s.KeyID + ", not the trusted key " + keyID(pub)
		} else if !strings.EqualFold(s.SHA256, hex.EncodeToString(d[:])) {
			why = "the report's SHA-256 is " + hex.EncodeToString(d[:]) + ", the signature's " + s.SHA256
		}
		return nil, fmt.Errorf("%w: %s", ErrBadSignature, why)
	}
	r := &Result{KeyID: keyID(pub)}
	ev, err := Extract(report)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadEvidence, err)
	}
	r.Evidence = ev
	render := HTML
	if bytes.HasPrefix(report, []byte("%PDF-")) {
		render = PDF
	}
	if again, err := render(ev); err == nil {
		r.PagesMatch = bytes.Equal(again, report)
	}
	if ev.Kind == "case" {
		if ev.Case == nil || ev.Chain == nil {
			return r, fmt.Errorf("%w: a case report without its case or chain excerpt", ErrBadEvidence)
		}
		for _, e := range ev.Chain.Events {
			if e.CaseID != ev.Case.ID {
				return r, fmt.Errorf("%w: event %d belongs to case %d, the report is of case %d", ErrBadEvidence, e.Seq, e.CaseID, ev.Case.ID)
			}
		}
		last, err := store.VerifyExcerpt(ev.Chain)
		if err != nil {
			return r, fmt.Errorf("%w: %v", ErrBadEvidence, err)
		}
		r.LastHash = last
		if a := ev.Anchor; a != nil && a.Seq == ev.Chain.HeadSeq && a.Hash != ev.Chain.HeadHash {
			return r, fmt.Errorf("%w: the external anchor %d disagrees with the head the report read", ErrBadEvidence, a.Seq)
		}
	}
	return r, nil
}
