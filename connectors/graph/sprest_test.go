package graph_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/internal/secret"
)

// writeCert writes a self-signed certificate and its key for the app.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kinetic"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "app.crt"), filepath.Join(dir, "app.key")
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	if os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600) != nil ||
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}), 0o600) != nil {
		t.Fatal("writing the certificate")
	}
	return certFile, keyFile
}

// certTokenCall is a token request authenticated with a client assertion.
func certTokenCall(tok string) call {
	c := tokenCall(tok)
	delete(c.form, "client_secret")
	c.form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	c.check = func(t *testing.T, r *http.Request, form url.Values) {
		if form.Has("client_secret") || form.Get("client_assertion") == "" {
			t.Error("SharePoint needs a certificate: want a client assertion, no secret")
		}
	}
	return c
}

func spCall(method, path, q string, tok, resp string) call {
	c := call{method: method, path: path, token: tok, resp: resp,
		check: func(t *testing.T, r *http.Request, _ url.Values) {
			if got := r.Header.Get("Accept"); got != "application/json;odata=nometadata" {
				t.Errorf("%s %s: Accept = %q", r.Method, r.URL.Path, got)
			}
		}}
	if q != "" {
		c.query = map[string]string{}
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			c.query[k] = v
		}
	}
	return c
}

func TestSharePointREST(t *testing.T) {
	certFile, keyFile := writeCert(t)
	const spTok = "eyJ-sharepoint-token"
	classic := `{"user":{"displayName":"System Account"}}`

	s := newScript(t) // calls are set below, once the server's address is known
	host := strings.TrimPrefix(s.URL(), "http://")
	site := "contoso,s-lg,w-lg"
	webURL := "https://" + host + "/sites/legal"
	reads := func(groupsResp string, withToken bool) []call {
		out := []call{
			getUser("u1", selSites, tok1, danaJSON),
			memberOf("u1", tok1, groups()),
			ownedObjects("u1", tok1, groups()),
			{method: http.MethodGet, path: "/v1.0/sites/" + host + ":/sites/legal", query: map[string]string{"$select": "id,webUrl,displayName"}, token: tok1,
				resp: `{"id":"` + site + `","webUrl":"` + webURL + `"}`},
			{method: http.MethodGet, path: "/v1.0/sites/" + site + "/drive", query: map[string]string{"$select": "id,owner"}, token: tok1, resp: `{"id":"d","owner":` + classic + `}`},
			{method: http.MethodGet, path: "/v1.0/sites/" + site + "/drive/items/root/permissions", token: tok1, resp: `{"value":[]}`},
		}
		if withToken {
			out = append(out, certTokenCall(spTok))
		}
		return append(out,
			spCall(http.MethodGet, "/sites/legal/_api/web/siteusers", "$filter=Email eq 'dana@contoso.com'&$select=Id,IsSiteAdmin", spTok, `{"value":[{"Id":11,"IsSiteAdmin":false}]}`),
			spCall(http.MethodGet, "/sites/legal/_api/web/siteusers/getbyid(11)/groups", "$select=Id,Title", spTok, groupsResp),
		)
	}
	s.calls = seq(
		certTokenCall(tok1),
		reads(`{"value":[{"Id":5,"Title":"Legal Members"},{"Id":3,"Title":"Legal Owners"}]}`, true),
		spCall(http.MethodPost, "/sites/legal/_api/web/sitegroups/getbyid(5)/users/removebyid(11)", "", spTok, ""),
		spCall(http.MethodPost, "/sites/legal/_api/web/sitegroups/getbyid(3)/users/removebyid(11)", "", spTok, ""),
		reads(`{"value":[]}`, false),
	)

	cfg := testConfig(s.URL())
	cfg.ClientSecret = secret.Secret{}
	cfg.CertificateFile, cfg.PrivateKeyFile = certFile, keyFile
	cfg.SharePointURL = s.URL()
	c, err := graph.New("m365", cfg, testPolicy(t), graph.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	r := connectors.Request{Operation: connectors.OpRemoveSiteAccess, Account: "u1", Subject: connectors.Subject{Email: "dana@contoso.com"},
		Params: map[string]string{"sites": "https://" + host + "/sites/legal"}}
	res, err := c.Do(ctxT(t), r)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if !strings.Contains(res.Detail, `SharePoint group "Legal Members"`) || strings.Contains(res.Detail, "not group-connected") {
		t.Errorf("Detail = %q", res.Detail)
	}
	if v, err := c.Verify(ctxT(t), r); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}

	t.Run("sharepoint_url needs a certificate, and no path", func(t *testing.T) {
		bad := testConfig("https://login.example")
		bad.SharePointURL = "https://contoso.sharepoint.com/sites/x"
		err := bad.Validate()
		if err == nil || !strings.Contains(err.Error(), "sharepoint_url needs certificate_file") || !strings.Contains(err.Error(), "without a path") {
			t.Fatalf("Validate = %v", err)
		}
	})
}

func TestSharePointRESTFailures(t *testing.T) {
	certFile, keyFile := writeCert(t)
	const spTok = "eyJ-sharepoint-token"
	classic := `{"user":{"displayName":"System Account"}}`
	site := "contoso,s-lg,w-lg"

	run := func(t *testing.T, webHost func(host string) string, spCalls ...call) error {
		s := newScript(t)
		host := strings.TrimPrefix(s.URL(), "http://")
		s.calls = seq(
			certTokenCall(tok1),
			getUser("u1", selSites, tok1, danaJSON),
			memberOf("u1", tok1, groups()),
			ownedObjects("u1", tok1, groups()),
			call{method: http.MethodGet, path: "/v1.0/sites/" + host + ":/sites/legal", query: map[string]string{"$select": "id,webUrl,displayName"}, token: tok1,
				resp: `{"id":"` + site + `","webUrl":"https://` + webHost(host) + `/sites/legal"}`},
			call{method: http.MethodGet, path: "/v1.0/sites/" + site + "/drive", query: map[string]string{"$select": "id,owner"}, token: tok1, resp: `{"id":"d","owner":` + classic + `}`},
			call{method: http.MethodGet, path: "/v1.0/sites/" + site + "/drive/items/root/permissions", token: tok1, resp: `{"value":[]}`},
			spCalls,
		)
		cfg := testConfig(s.URL())
		cfg.ClientSecret = secret.Secret{}
		cfg.CertificateFile, cfg.PrivateKeyFile = certFile, keyFile
		cfg.SharePointURL = s.URL()
		c, err := graph.New("m365", cfg, testPolicy(t), graph.WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRemoveSiteAccess, Account: "u1",
			Params: map[string]string{"sites": "https://" + host + "/sites/legal"}})
		return err
	}
	same := func(h string) string { return h }
	users := func(resp string, status int) call {
		c := spCall(http.MethodGet, "/sites/legal/_api/web/siteusers", "$filter=Email eq 'dana@contoso.com'&$select=Id,IsSiteAdmin", spTok, resp)
		c.status = status
		return c
	}

	t.Run("a site collection administrator is a permanent failure naming the site, after the groups are left", func(t *testing.T) {
		err := run(t, same, certTokenCall(spTok),
			users(`{"value":[{"Id":11,"IsSiteAdmin":true}]}`, 0),
			spCall(http.MethodGet, "/sites/legal/_api/web/siteusers/getbyid(11)/groups", "$select=Id,Title", spTok, `{"value":[{"Id":5,"Title":"Legal Members"}]}`),
			spCall(http.MethodPost, "/sites/legal/_api/web/sitegroups/getbyid(5)/users/removebyid(11)", "", spTok, ""),
		)
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), "site collection administrator of https://") {
			t.Fatalf("error %q", err)
		}
	})

	t.Run("403 from SharePoint names its own permission", func(t *testing.T) {
		err := run(t, same, certTokenCall(spTok),
			users(`{"odata.error":{"code":"-2147024891, System.UnauthorizedAccessException","message":{"lang":"en-US","value":"Access denied."}}}`, http.StatusForbidden))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), graph.PermSharePointSites) {
			t.Fatalf("error %q", err)
		}
	})

	t.Run("a site on another host gets no SharePoint token", func(t *testing.T) {
		err := run(t, func(string) string { return "evil.example" })
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), "not on sharepoint_url's host") {
			t.Fatalf("error %q", err)
		}
	})
}
