package workday

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/internal/hrtest"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestTokensExpiryAnd401 follows one access token's life through the
// source: reused while valid, fetched again near its expiry (by the
// injected clock), and dropped when the report answers 401.
func TestTokensExpiryAnd401(t *testing.T) {
	ctx := context.Background()
	tok := func(at string) string {
		return fmt.Sprintf(`{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, at)
	}
	srv := hrtest.NewServer(t,
		tokenCall(refreshForm(), 200, tok("AT-1")),
		reportCall("Bearer AT-1", 200, entries),
		reportCall("Bearer AT-1", 200, entries),    // reused 50 minutes later
		tokenCall(refreshForm(), 200, tok("AT-2")), // near AT-1's expiry
		reportCall("Bearer AT-2", 401, `{"error": "invalid token"}`),
		tokenCall(refreshForm(), 200, tok("AT-3")), // the 401 dropped AT-2
		reportCall("Bearer AT-3", 200, entries),
	)
	cfg := basicConfig(srv.URL)
	cfg.Username, cfg.Password = "", secret.Secret{}
	cfg.OAuth = &OAuth{
		TokenURL: srv.URL + "/ccx/oauth2/acme/token", ClientID: "kinetic-client",
		ClientSecret: secret.FromValue(clientSecret), RefreshToken: secret.FromValue(refreshToken),
	}
	clock := &hrtest.Clock{}
	s := newSource(t, cfg, clock)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(50 * time.Minute)
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9*time.Minute + 30*time.Second) // 59m30s: less than a minute left
	var se *directory.SourceError
	if err := s.Refresh(ctx); !errors.As(err, &se) || se.Status != 401 {
		t.Fatalf("a refused token: %v, want a 401 SourceError", err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}
