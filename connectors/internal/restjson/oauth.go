package restjson

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kineticsec/kinetic/connectors"
)

// Basic returns the Auth that sends HTTP basic credentials on every
// request.
func Basic(user, password string) Auth {
	return Auth{Authorize: func(_ context.Context, r *http.Request) error {
		r.SetBasicAuth(user, password)
		return nil
	}}
}

// ClientCredentials returns the Auth that sends "Bearer <token>", the token
// got with the OAuth 2.0 client_credentials grant at tokenURL (client id
// and secret in the form body, RFC 6749 section 2.3.1's second form, which
// ServiceNow's /oauth_token.do expects) through client, which must come
// from the outbound URL policy. A token is reused until a minute before it
// expires, or until a 401 invalidates it. A refused exchange is KindAuth
// (400/401: wrong client or grant not enabled) or classified by its status;
// its body, which may echo the request, is never quoted.
func ClientCredentials(name, tokenURL, clientID, clientSecret string, client *http.Client) Auth {
	ts := &tokens{name: name, client: client, cfg: &clientcredentials.Config{
		ClientID: clientID, ClientSecret: clientSecret, TokenURL: tokenURL,
		AuthStyle: oauth2.AuthStyleInParams,
	}}
	return Auth{
		Authorize: func(ctx context.Context, r *http.Request) error {
			tok, err := ts.token(ctx)
			if err != nil {
				return err
			}
			r.Header.Set("Authorization", "Bearer "+tok)
			return nil
		},
		Invalidate: ts.invalidate,
	}
}

type tokens struct {
	name   string
	client *http.Client
	cfg    *clientcredentials.Config

	mu    sync.Mutex
	tok   string
	until time.Time
}

func (t *tokens) token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != "" && time.Now().Before(t.until) {
		return t.tok, nil
	}
	tok, err := t.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, t.client))
	if err != nil {
		return "", t.classify(ctx, err)
	}
	if tok.AccessToken == "" {
		return "", connectors.NewError(connectors.KindAuth, t.name, "token", errors.New("the token endpoint's answer has no access_token"))
	}
	life := time.Until(tok.Expiry)
	if tok.Expiry.IsZero() || life <= 0 {
		life = 10 * time.Minute
	}
	t.tok, t.until = tok.AccessToken, time.Now().Add(life-min(time.Minute, life/10))
	return t.tok, nil
}

func (t *tokens) invalidate() {
	t.mu.Lock()
	t.tok = ""
	t.mu.Unlock()
}

func (t *tokens) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return connectors.NewError(connectors.KindCanceled, t.name, "token", cerr)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		st := re.Response.StatusCode
		if st == http.StatusBadRequest || st == http.StatusUnauthorized {
			return &connectors.Error{Kind: connectors.KindAuth, Connector: t.name, Op: "token", Status: st,
				Err: errors.New("the token endpoint refused the client credentials (check client_id, client_secret and that the client_credentials grant is enabled)")}
		}
		return connectors.ClassifyHTTP(t.name, "token", re.Response, "the token endpoint answered "+http.StatusText(st))
	}
	return connectors.Classify(t.name, "token", redactURL(err))
}
