package signals

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// DeliveryPush is the delivery method URI of RFC 8935 push delivery, the
// only one Kinetic transmits with (OpenID Shared Signals Framework 1.0,
// "Transmitter Configuration Metadata").
const DeliveryPush = "urn:ietf:rfc:8935"

// SpecVersion is the Shared Signals Framework version the metadata
// follows.
const SpecVersion = "1_0"

// JWKSPath is where the JWKS is published below the issuer's path.
const JWKSPath = "/ssf/jwks.json"

// Metadata is the transmitter configuration metadata (SSF 1.0): only what
// Kinetic implements. Streams are configured in Kinetic's configuration
// file, so no configuration, status, add-subject or verification endpoint
// is advertised — a receiver told of one would call a 404.
type Metadata struct {
	SpecVersion              string   `json:"spec_version"`
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
}

// Metadata returns the transmitter's metadata document.
func (t *Transmitter) Metadata() Metadata {
	return Metadata{SpecVersion: SpecVersion, Issuer: t.cfg.Issuer, JWKSURI: strings.TrimSuffix(t.cfg.Issuer, "/") + JWKSPath,
		DeliveryMethodsSupported: []string{DeliveryPush}}
}

// MetadataPath returns where the metadata of issuer is served: SSF 1.0
// puts /.well-known/ssf-configuration between the host and the issuer's
// path, without the path's trailing "/" (https://h/t → /.well-known/ssf-configuration/t).
func MetadataPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return "/.well-known/ssf-configuration"
	}
	return "/.well-known/ssf-configuration" + strings.TrimSuffix(u.EscapedPath(), "/")
}

// jwksRoute is the JWKS's path on kinetic serve's listener.
func jwksRoute(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return JWKSPath
	}
	return strings.TrimSuffix(u.EscapedPath(), "/") + JWKSPath
}

// Routes returns the function that registers the metadata and the JWKS on
// kinetic serve's mux (GET, public: they hold nothing secret).
func (t *Transmitter) Routes() func(*http.ServeMux) {
	md, err := json.Marshal(t.Metadata())
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	jwks, err := json.Marshal(t.signer.JWKS())
	if err != nil {
		panic(err)
	}
	serve := func(body []byte, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "public, max-age=300")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			_, _ = w.Write(body)
		}
	}
	return func(mux *http.ServeMux) {
		mux.Handle("GET "+MetadataPath(t.cfg.Issuer), serve(md, "application/json"))
		// RFC 7517 section 8.5: application/jwk-set+json.
		mux.Handle("GET "+jwksRoute(t.cfg.Issuer), serve(jwks, "application/jwk-set+json"))
	}
}
