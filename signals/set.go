package signals

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/store"
)

// SETType is the JWS typ header of every SET: "secevent+jwt" (RFC 8417
// section 2.3, "explicit typing").
const SETType = "secevent+jwt"

// Claims is a SET's JWT claims set (RFC 8417 section 2.2) with the subject
// in the sub_id claim (RFC 9493 subject identifiers, as the Shared Signals
// Framework 1.0 and the CAEP and RISC 1.0 event types carry it).
type Claims struct {
	Issuer   string `json:"iss"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	Audience string `json:"aud"`
	// Txn correlates the SETs of one offboarding: "kinetic-case-N".
	Txn string `json:"txn,omitempty"`
	// Subject is the sub_id claim: {"format": "email", "email": …},
	// {"format": "opaque", "id": …} or {"format": "iss_sub", "iss": …,
	// "sub": …}.
	Subject map[string]string `json:"sub_id"`
	// Events holds exactly one event: its type URI and its payload.
	Events map[string]map[string]any `json:"events"`
}

// newJTI returns 128 random bits in hex.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// subjectOf names the person of src as format asks: email, opaque (the HR
// id) or iss_sub (the account id in the system acted on, under its issuer
// from subjectIssuers). iss_sub without an issuer or account id, and email
// without an address, fall back to the next form that can be built.
func subjectOf(format string, src store.SignalSource, subjectIssuers map[string]string) map[string]string {
	if format == configs.SubjectIssSub {
		if iss := subjectIssuers[src.Connector]; iss != "" && src.TargetAccount != "" {
			return map[string]string{"format": "iss_sub", "iss": iss, "sub": src.TargetAccount}
		}
		format = configs.SubjectEmail
	}
	if format == configs.SubjectEmail && src.EmployeeEmail != "" {
		return map[string]string{"format": "email", "email": src.EmployeeEmail}
	}
	return map[string]string{"format": "opaque", "id": src.EmployeeID}
}

// payloadOf is the event's payload for an action finished at at.
// session-revoked and credential-change carry CAEP's optional
// initiating_entity ("admin": an administrative action), event_timestamp
// (when the action finished) and reason_admin; credential-change its
// required credential_type and change_type. RISC account-disabled defines
// only an optional reason ("hijacking" or "bulk-account"), which does not
// fit an offboarding, so its payload is empty.
func payloadOf(sig Signal, src store.SignalSource, at time.Time) map[string]any {
	if sig.Type == AccountDisabled {
		return map[string]any{}
	}
	p := map[string]any{
		"initiating_entity": "admin",
		"event_timestamp":   at.Unix(),
		"reason_admin":      map[string]string{"en": "Offboarding (Kinetic case " + strconv.FormatInt(src.CaseID, 10) + ")"},
	}
	if sig.Type == CredentialChange {
		p["credential_type"] = sig.CredentialType
		p["change_type"] = sig.ChangeType
	}
	return p
}

// buildClaims returns the claims of the SET about src for one receiver.
func buildClaims(issuer string, rc *configs.SignalReceiver, sig Signal, src store.SignalSource, subjectIssuers map[string]string, now time.Time) (Claims, error) {
	jti, err := newJTI()
	if err != nil {
		return Claims{}, err
	}
	at := now
	if src.FinishedAt != nil {
		at = *src.FinishedAt
	}
	return Claims{
		Issuer: issuer, IssuedAt: now.Unix(), ID: jti, Audience: rc.Audience,
		Txn:     "kinetic-case-" + strconv.FormatInt(src.CaseID, 10),
		Subject: subjectOf(rc.SubjectFormat, src, subjectIssuers),
		Events:  map[string]map[string]any{sig.Type.URI(): payloadOf(sig, src, at)},
	}, nil
}

// Signer signs SETs with the configured key and publishes its public half.
type Signer struct {
	signer jose.Signer
	alg    jose.SignatureAlgorithm
	kid    string
	public jose.JSONWebKey
}

// NewSigner reads a PEM private key (configs.ParseSigningKey: ECDSA P-256
// signs ES256, RSA ≥ 2048 bits RS256). kid is the key id put in every SET's
// header and in the JWKS; empty means the key's RFC 7638 SHA-256
// thumbprint, base64url.
func NewSigner(pemText, kid string) (*Signer, error) {
	key, alg, err := configs.ParseSigningKey(pemText)
	if err != nil {
		return nil, fmt.Errorf("signals: signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: alg, Use: "sig"}
	if kid == "" {
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("signals: key thumbprint: %w", err)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	pub.KeyID = kid
	ja := jose.SignatureAlgorithm(alg)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: ja, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(SETType))
	if err != nil {
		return nil, fmt.Errorf("signals: signer: %w", err)
	}
	return &Signer{signer: s, alg: ja, kid: kid, public: pub}, nil
}

// Sign returns the compact JWS of the claims set (JSON).
func (s *Signer) Sign(claims []byte) (string, error) {
	obj, err := s.signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("signals: signing: %w", err)
	}
	return obj.CompactSerialize()
}

// KeyID returns the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// Algorithm returns the JWS algorithm (ES256 or RS256).
func (s *Signer) Algorithm() string { return string(s.alg) }

// JWKS returns the JSON Web Key Set receivers verify SETs with: the public
// key only.
func (s *Signer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.public}}
}

func marshalClaims(c Claims) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}
