package workday

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
)

// PollerFormat describes the workday_raas poller format (an HR event
// source): a Workday custom report published as a web service, read whole
// every round, each Report_Entry row mapped with the poller's fields.
// internal/compose/table lists it.
func PollerFormat() hrconfig.PollerFormat {
	return hrconfig.PollerFormat{
		Format:   hrconfig.FormatWorkdayRaaS,
		Validate: validatePoller,
		URLs:     pollerURLs,
		New: func(name string, p *hrconfig.Poller, deps hrconfig.PollDeps) hrconfig.PollSource {
			s := &raasSource{cfg: p, client: deps.HTTP}
			if o := p.OAuth; o != nil {
				s.tokens = NewTokens(OAuth{TokenURL: o.TokenURL, ClientID: o.ClientID,
					ClientSecret: o.ClientSecret, RefreshToken: o.RefreshToken}, deps.HTTP, deps.Now)
			}
			return s
		},
	}
}

func validatePoller(path string, p *hrconfig.Poller, add func(field, format string, args ...any)) {
	if err := hrconfig.CheckURL(p.URL, true); err != nil {
		add(path+".url", "%v", err)
	}
	basic := p.Username != "" || p.Password.IsSet()
	switch {
	case basic && p.OAuth != nil:
		add(path, "set either username and password (basic auth) or oauth, not both")
	case p.OAuth != nil:
		o := p.OAuth
		if err := hrconfig.CheckURL(o.TokenURL, false); err != nil {
			add(path+".oauth.token_url", "%v", err)
		}
		if strings.TrimSpace(o.ClientID) == "" {
			add(path+".oauth.client_id", "client_id is required")
		}
		if !o.ClientSecret.IsSet() {
			add(path+".oauth.client_secret", "client_secret is required ({env: NAME} or {file: PATH})")
		}
		if !o.RefreshToken.IsSet() {
			add(path+".oauth.refresh_token", "refresh_token is required ({env: NAME} or {file: PATH})")
		}
	default:
		if strings.TrimSpace(p.Username) == "" {
			add(path+".username", "username is required (the integration system user), or use oauth")
		} else if strings.Contains(p.Username, ":") {
			add(path+".username", "username must not contain ':'")
		}
		if !p.Password.IsSet() {
			add(path+".password", "password is required ({env: NAME} or {file: PATH})")
		}
	}
	hrconfig.NotFor(path, hrconfig.FormatWorkdayRaaS, map[string]bool{"company": p.Company != "", "api_key": p.APIKey.IsSet(), "base_url": p.BaseURL != ""}, add)
	hrconfig.ValidateMapping(path, p.Fields, p.Kinds, p.Kind, add)
}

func pollerURLs(p *hrconfig.Poller) map[string]string {
	out := map[string]string{}
	if hrconfig.CheckURL(p.URL, true) == nil {
		out["url"] = p.URL
	}
	if p.OAuth != nil && hrconfig.CheckURL(p.OAuth.TokenURL, false) == nil {
		out["oauth.token_url"] = p.OAuth.TokenURL
	}
	return out
}

// raasSource reads the report; rows already recorded are duplicates (their
// event id is the row's identity, kind and date).
type raasSource struct {
	cfg    *hrconfig.Poller
	client *http.Client
	// tokens is the Workday token exchange (with oauth).
	tokens *Tokens
}

func (s *raasSource) Poll(ctx context.Context, sink hrconfig.Sink) error {
	u, err := ReportURL(s.cfg.URL)
	if err != nil {
		u = s.cfg.URL // left for the request to refuse
	}
	body, err := hrconfig.Get(ctx, s.client, "workday report", u, s.auth(ctx))
	if err != nil {
		if he := (*hrconfig.HTTPError)(nil); errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			if s.tokens != nil {
				s.tokens.Invalidate() // a revoked access token: fetch a new one next round
			}
		}
		return err
	}
	rows, err := DecodeReport(body)
	if errors.Is(err, ErrNoReportEntry) {
		return fmt.Errorf("workday report: %w", err)
	}
	if err != nil {
		return fmt.Errorf("workday report: malformed JSON: %v", err)
	}
	var errs []error
	for _, raw := range rows {
		sink.Read()
		if err := sink.Row(ctx, raw); err != nil {
			errs = append(errs, err)
		}
	}
	return hrconfig.JoinCapped(errs)
}

// auth authenticates with basic auth, or with an access token obtained
// from the refresh token.
func (s *raasSource) auth(ctx context.Context) func(*http.Request) error {
	return func(req *http.Request) error {
		if s.cfg.OAuth == nil {
			req.SetBasicAuth(s.cfg.Username, s.cfg.Password.Value())
			return nil
		}
		tok, err := s.accessToken(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// accessToken gets a token from the token exchange, classifying a refusal
// like any HTTP answer.
func (s *raasSource) accessToken(ctx context.Context) (string, error) {
	tok, err := s.tokens.Token(ctx)
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		// re's body may echo the client secret or the refresh token.
		return "", &hrconfig.HTTPError{What: "workday token", Status: re.Response.StatusCode}
	case err != nil:
		return "", fmt.Errorf("workday token: %w", hrconfig.StripURL(err))
	}
	return tok.AccessToken, nil
}
