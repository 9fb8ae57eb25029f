package serve

import (
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TestAPIClientsCLIToken: KINETIC_API_TOKEN becomes the "cli" client unless
// it is a configured client's token or "cli" is taken.
func TestAPIClientsCLIToken(t *testing.T) {
	h := configs.HTTP{APIClients: map[string]configs.APIClient{
		"intake": {Token: secret.FromValue("intake-token"), Scopes: []string{"cases:create"}},
	}}
	if got := APIClients(h, ""); len(got) != 1 {
		t.Errorf("no cli token: %d clients, want 1", len(got))
	}
	if got := APIClients(h, "intake-token"); len(got) != 1 {
		t.Errorf("a configured client's token: %d clients, want 1", len(got))
	}
	got := APIClients(h, "cli-token")
	if cli, ok := got["cli"]; !ok || cli.Token != "cli-token" || cli.Via != "cli" {
		t.Errorf("cli client: got %+v", got["cli"])
	}
}
