package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/configs"
)

// TestCasesCancelCLI cancels a scheduled case with `kinetic cases cancel`
// against `kinetic serve` on the embedded default: the engine authorizes
// the person named by --as as it does a Slack /offboard cancel.
func TestCasesCancelCLI(t *testing.T) {
	inTempDir(t)
	const token = "cli-token-5d2e91"
	addr := freeAddr(t)
	base := "http://" + addr
	t.Setenv(configs.EnvHTTPAddr, addr)
	t.Setenv("KINETIC_API_TOKEN", token) // serve accepts it as the "cli" client's token
	t.Setenv("KINETIC_SERVER", base)
	stop, done := background(t, "serve")
	waitHTTP(t, base+"/readyz", done, stop)

	later := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	code, body := call(t, "POST", base+"/api/v1/cases", token, `{"employee_id":"E1006","requested_by":"E0100","reason":"resigned","effective_at":"`+later+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("opening the case: %d %s", code, body)
	}
	var c struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(c.ID)

	t.Run("usage errors are exit 2", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"cases"}, "usage: kinetic cases cancel"},
			{[]string{"cases", "close", id}, "usage: kinetic cases cancel"},
			{[]string{"cases", "cancel"}, "an id is required"},
			{[]string{"cases", "cancel", id, "--reason", "x"}, "cases cancel needs --as HR-ID"},
			{[]string{"cases", "cancel", id, "--as", "E0100"}, "cases cancel needs --reason"},
		} {
			t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
				kinetic(t, tc.args...).want(t, 2, tc.want)
			})
		}
	})
	t.Run("a colleague may not cancel", func(t *testing.T) {
		kinetic(t, "cases", "cancel", id, "--as", "E1007", "--reason", "prank").want(t, 1, "may not cancel", "HTTP 403")
	})
	t.Run("the manager cancels", func(t *testing.T) {
		kinetic(t, "cases", "cancel", id, "--as", "E0100", "--reason", "counter-offer accepted").want(t, 0, "case "+id+" (Liam O'Connor, E1006) cancelled")
		kinetic(t, "cases", "cancel", id, "--as", "E0100", "--reason", "again").want(t, 1, "already cancelled")
	})
}
