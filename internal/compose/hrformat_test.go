package compose_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot/hr"
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// --- An HR poller format written in the test, as a vendor package would
// export it: its validation, its URLs and its source, which reads a JSON
// list of rows and hands each to the sink (mapped with the poller's
// fields, like workday_raas rows).

func rowsFormat() hrconfig.PollerFormat {
	return hrconfig.PollerFormat{
		Format: "rows_json",
		Validate: func(path string, p *hrconfig.Poller, add func(field, format string, args ...any)) {
			if err := hrconfig.CheckURL(p.URL, false); err != nil {
				add(path+".url", "%v", err)
			}
			hrconfig.NotFor(path, "rows_json", map[string]bool{"company": p.Company != ""}, add)
			hrconfig.ValidateMapping(path, p.Fields, p.Kinds, p.Kind, add)
		},
		URLs: func(p *hrconfig.Poller) map[string]string {
			if hrconfig.CheckURL(p.URL, false) != nil {
				return nil // Validate reports it
			}
			return map[string]string{"url": p.URL}
		},
		New: func(name string, p *hrconfig.Poller, deps hrconfig.PollDeps) hrconfig.PollSource {
			return &rowsSource{url: p.URL, client: deps.HTTP}
		},
	}
}

type rowsSource struct {
	url    string
	client *http.Client
}

func (s *rowsSource) Poll(ctx context.Context, sink hrconfig.Sink) error {
	body, err := hrconfig.Get(ctx, s.client, "rows", s.url, func(*http.Request) error { return nil })
	if err != nil {
		return err
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return err
	}
	var errs []error
	for _, r := range rows {
		sink.Read()
		if err := sink.Row(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// eventsEngine records the events a poller hands it.
type eventsEngine struct {
	mu     sync.Mutex
	events []engine.HREvent
}

func (e *eventsEngine) HandleHREvent(_ context.Context, ev engine.HREvent, _ engine.HRTiming) (engine.HRResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
	return engine.HRResult{Outcome: engine.HROpened, CaseID: int64(len(e.events))}, nil
}

const rowsService = `policy: p.yaml
redis: {embedded: true}
outbound: {allow_cidrs: [127.0.0.0/8]}
hr:
  pollers:
    hris:
      format: rows_json
      url: %URL%
      kind: terminate
      fields: {employee_id: emp, date: last_day}
`

// Adding an HR poller format is its descriptor (above) plus one line in
// the table: a service file naming it is then loaded and validated with
// file:line:key, its URL checked against the outbound policy, and bot/hr
// runs its source with the poller's mapping.
func TestAddHRPollerFormatIsOneDescriptorAndOneTableLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"emp":"E7","last_day":"2026-12-04"},{"emp":"E8"}]`)
	}))
	defer srv.Close()
	yaml := func(url string) []byte { return []byte(strings.ReplaceAll(rowsService, "%URL%", url)) }

	tables := compose.All()
	tables.PollerFormats = append(tables.PollerFormats, rowsFormat()) // the one line

	svc, err := tables.ParseService("svc.yaml", yaml(srv.URL+"/rows"))
	if err != nil {
		t.Fatalf("ParseService: %v", err)
	}
	hc := hrconfig.ConfigOf(svc.HR)
	policy, err := outbound.NewURLPolicy(svc.Outbound.AllowCIDRs, svc.Outbound.AllowHosts)
	if err != nil {
		t.Fatal(err)
	}
	eng := &eventsEngine{}
	l := logrus.New()
	l.Out = io.Discard
	p := hr.NewPoller("hris", hc.Pollers["hris"], hr.Timing(hc), eng, policy, hr.Options{Log: logrus.NewEntry(l), Formats: hc.PollerFormats()})
	st, err := p.Poll(context.Background())
	if err != nil || st.Rows != 2 || st.Refused != 1 || st.Outcomes[engine.HROpened] != 1 {
		t.Fatalf("Poll = %+v, %v; want 2 rows, 1 opened, 1 refused (no date)", st, err)
	}
	if ev := eng.events[0]; ev.Source != "hris" || ev.Kind != hrconfig.KindTerminate || ev.EmployeeID != "E7" || ev.Date != "2026-12-04" {
		t.Fatalf("event = %+v", ev)
	}

	for _, tc := range []struct{ name, url, want string }{
		{"format validation", "ftp://x/rows", `svc.yaml:8: hr.pollers.hris.url: `},
		{"outbound policy", "http://169.254.169.254/rows", `svc.yaml:8: hr.pollers.hris.url: outbound URL refused by policy`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tables.ParseService("svc.yaml", yaml(tc.url))
			var errs *configs.Errors
			if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want *configs.Errors containing %q", err, tc.want)
			}
		})
	}

	// Without the table line the format is unknown.
	_, err = compose.ParseService("svc.yaml", yaml(srv.URL+"/rows"))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:7: hr.pollers.hris.format: unknown format "rows_json" (want workday_raas or bamboohr_changed)`) {
		t.Errorf("without the line: err = %v", err)
	}
}
