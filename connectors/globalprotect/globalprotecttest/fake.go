// Package globalprotecttest is a stateful fake PAN-OS (the XML API at the HTTP level: the local user database, partial commits as jobs, GlobalProtect gateways with current users) for the globalprotect package's tests and the end-to-end tests.
// Nothing in production imports it.
package globalprotecttest

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// PANOS is the PAN-OS XML API at the HTTP level: a local user
// database with a candidate and a running configuration, partial commits
// by admin as jobs, and GlobalProtect gateways with current users, in the
// request and response shapes of the PAN-OS XML API documentation. Every
// request must be a form POST to /api/ with the X-PAN-KEY header and no
// key in the URL or form; an unknown request fails the test. Requests are
// logged as "type=… action=… xpath=… element=… cmd=…" for in-order checks.
type PANOS struct {
	t   *testing.T
	Srv *httptest.Server
	Key string

	Mu        sync.Mutex
	Running   map[string]bool // user (lower case) → disabled, in the running config
	Candidate map[string]bool
	names     map[string]string // lower case → as configured
	Sessions  []Session
	jobs      map[int]int // job id → reads left before FIN
	JobFail   bool        // the next commit job finishes FAIL
	nextJob   int
	log       []string
	FailNext  []Failure
	Reappear  bool // logged-out sessions come back
	Stall     bool
}

type Session struct{ Gateway, User, Computer, Domain string }

type Failure struct {
	Status      int
	ContentType string
	Body        string
	Header      map[string]string
}

const (
	Key       = "LUFRPT1panKEY0123456789abcdef=="
	UserXPath = "/config/shared/local-user-database/user/entry[@name='%s']"
	Admin     = "kinetic-api"
)

// New starts the fake; it is closed when the test ends.
func New(t *testing.T, tlsServer bool) *PANOS {
	f := &PANOS{t: t, Key: Key, Running: map[string]bool{}, Candidate: map[string]bool{}, names: map[string]string{}, jobs: map[int]int{}, nextJob: 40}
	f.Srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.Srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		f.Srv.StartTLS()
	} else {
		f.Srv.Start()
	}
	t.Cleanup(f.Srv.Close)
	return f
}

// AddUser adds a local user, disabled or not, to the running and candidate configs.
func (f *PANOS) AddUser(name string, disabled bool) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	k := strings.ToLower(name)
	f.names[k], f.Running[k], f.Candidate[k] = name, disabled, disabled
}

// SeedDana: dana is an enabled local user, connected to gw-east from two
// computers and to gw-west from one (as CORP\dana); sam is connected too.
func (f *PANOS) SeedDana() {
	f.AddUser("dana", false)
	f.AddUser("sam", false)
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Sessions = []Session{
		{"gw-east", "dana", "DANA-LAPTOP", ""},
		{"gw-east", "sam", "SAM-PC", ""},
		{"gw-east", "dana", "Dana’s iPhone", ""},
		{"gw-west", `CORP\dana`, "DANA-LAPTOP", "CORP"},
	}
}

// RequestLog returns the requests so far, in order.
func (f *PANOS) RequestLog() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return append([]string(nil), f.log...)
}

// ResetLog forgets the requests so far.
func (f *PANOS) ResetLog() { f.Mu.Lock(); f.log = nil; f.Mu.Unlock() }

// Fail answers the next requests with these failures, in order.
func (f *PANOS) Fail(ff ...Failure) {
	f.Mu.Lock()
	f.FailNext = append(f.FailNext, ff...)
	f.Mu.Unlock()
}

func xmlOK(w http.ResponseWriter, inner string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	fmt.Fprintf(w, `<response status="success" code="19">%s</response>`, inner)
}

func xmlErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<response status="error" code="%s"><msg><line>%s</line></msg></response>`, code, msg)
}

var (
	gwCurrentRE = regexp.MustCompile(`^<show><global-protect-gateway><current-user><gateway>([^<]+)</gateway></current-user></global-protect-gateway></show>$`)
	jobRE       = regexp.MustCompile(`^<show><jobs><id>(\d+)</id></jobs></show>$`)
	logoutRE    = regexp.MustCompile(`^<request><global-protect-gateway><client-logout><gateway>([^<]+)</gateway><user>([^<]+)</user><reason>force-logout</reason><computer>([^<]+)</computer>(?:<domain>([^<]+)</domain>)?</client-logout></global-protect-gateway></request>$`)
	xpathRE     = regexp.MustCompile(`^/config/shared/local-user-database/user/entry\[@name='([^']+)'\]$`)
)

func (f *PANOS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	var parts []string
	for _, k := range []string{"type", "action", "xpath", "element", "cmd"} {
		if v := r.PostForm.Get(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	entry := strings.Join(parts, " ")
	f.Mu.Lock()
	f.log = append(f.log, entry)
	var failure *Failure
	if len(f.FailNext) > 0 {
		if f.FailNext[0].Status > 0 {
			failure = &f.FailNext[0]
		}
		f.FailNext = f.FailNext[1:]
	}
	stall := f.Stall
	f.Mu.Unlock()
	if stall {
		<-r.Context().Done()
		return
	}
	if failure != nil {
		for k, v := range failure.Header {
			w.Header().Set(k, v)
		}
		if failure.ContentType != "" {
			w.Header().Set("Content-Type", failure.ContentType)
		}
		w.WriteHeader(failure.Status)
		_, _ = io.WriteString(w, failure.Body)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/" || r.URL.RawQuery != "" {
		f.t.Errorf("fake PAN-OS: %s %s?%s, want POST /api/ with a form body only", r.Method, r.URL.Path, r.URL.RawQuery)
	}
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake PAN-OS: Content-Type %q", r.Header.Get("Content-Type"))
	}
	if _, ok := r.PostForm["key"]; ok {
		f.t.Errorf("fake PAN-OS: the API key was sent as a form parameter")
	}
	if r.Header.Get("X-PAN-KEY") != f.Key {
		xmlErr(w, http.StatusForbidden, "403", "Invalid Credential")
		return
	}
	form := r.PostForm
	f.Mu.Lock()
	defer f.Mu.Unlock()
	switch typ, action, cmd := form.Get("type"), form.Get("action"), form.Get("cmd"); {
	case typ == "config" && action == "show" && len(form) == 3:
		m := xpathRE.FindStringSubmatch(form.Get("xpath"))
		if m == nil {
			f.t.Errorf("fake PAN-OS: xpath %q", form.Get("xpath"))
			xmlErr(w, 200, "6", "Bad Xpath")
			return
		}
		k := strings.ToLower(m[1])
		name, ok := f.names[k]
		if !ok {
			xmlErr(w, 200, "7", "No such node")
			return
		}
		dis := ""
		if f.Running[k] {
			dis = "<disabled>yes</disabled>"
		}
		xmlOK(w, fmt.Sprintf(`<result total-count="1" count="1"><entry name="%s" admin="admin"><phash>$5$FAKEHASH$abc</phash>%s</entry></result>`, name, dis))
	case typ == "config" && action == "set" && len(form) == 4:
		m := xpathRE.FindStringSubmatch(form.Get("xpath"))
		if m == nil || form.Get("element") != "<disabled>yes</disabled>" {
			f.t.Errorf("fake PAN-OS: set %q %q", form.Get("xpath"), form.Get("element"))
			xmlErr(w, 200, "12", "Invalid Object")
			return
		}
		f.Candidate[strings.ToLower(m[1])] = true
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<response status="success" code="20"><msg>command succeeded</msg></response>`)
	case typ == "commit" && action == "partial" && len(form) == 3:
		if cmd != "<commit><partial><admin><member>"+Admin+"</member></admin></partial></commit>" {
			f.t.Errorf("fake PAN-OS: commit cmd %q", cmd)
		}
		pending := false
		for k, v := range f.Candidate {
			pending = pending || f.Running[k] != v
		}
		if !pending {
			xmlOK(w, `<msg>There are no changes to commit.</msg>`)
			return
		}
		f.nextJob++
		f.jobs[f.nextJob] = 1
		xmlOK(w, fmt.Sprintf(`<result><msg><line>Commit job enqueued with jobid %d</line></msg><job>%d</job></result>`, f.nextJob, f.nextJob))
	case typ == "op" && len(form) == 2 && jobRE.MatchString(cmd):
		var id int
		fmt.Sscan(jobRE.FindStringSubmatch(cmd)[1], &id)
		left, ok := f.jobs[id]
		if !ok {
			xmlErr(w, 200, "12", "job not found")
			return
		}
		if left > 0 {
			f.jobs[id] = left - 1
			xmlOK(w, fmt.Sprintf(`<result><job><id>%d</id><type>Commit</type><status>ACT</status><result>PEND</result><progress>55</progress></job></result>`, id))
			return
		}
		if f.JobFail {
			xmlOK(w, fmt.Sprintf(`<result><job><id>%d</id><type>Commit</type><status>FIN</status><result>FAIL</result><details><line>Validation Error: local-user-database is invalid</line></details></job></result>`, id))
			return
		}
		for k, v := range f.Candidate {
			f.Running[k] = v
		}
		xmlOK(w, fmt.Sprintf(`<result><job><id>%d</id><type>Commit</type><status>FIN</status><result>OK</result><details><line>Configuration committed successfully</line></details></job></result>`, id))
	case typ == "op" && len(form) == 2 && gwCurrentRE.MatchString(cmd):
		gw := gwCurrentRE.FindStringSubmatch(cmd)[1]
		var b strings.Builder
		b.WriteString("<result>")
		for _, s := range f.Sessions {
			if s.Gateway != gw {
				continue
			}
			dom := "<domain/>"
			if s.Domain != "" {
				dom = "<domain>" + s.Domain + "</domain>"
			}
			fmt.Fprintf(&b, `<entry>%s<islocal>yes</islocal><username>%s</username><computer>%s</computer><client>Microsoft Windows 11</client><vpn-type>Device Level VPN</vpn-type><virtual-ip>192.168.2.1</virtual-ip><public-ip>166.173.63.240</public-ip><tunnel-type>SSL</tunnel-type><login-time>Dec.07 09:50:36</login-time><login-time-utc>1796637036</login-time-utc><lifetime>2592000</lifetime></entry>`,
				dom, xmlEsc(s.User), xmlEsc(s.Computer))
		}
		b.WriteString("</result>")
		xmlOK(w, b.String())
	case typ == "op" && len(form) == 2 && logoutRE.MatchString(cmd):
		m := logoutRE.FindStringSubmatch(cmd)
		user := m[2]
		for i, s := range f.Sessions {
			if s.Gateway == m[1] && xmlEsc(s.User) == user && xmlEsc(s.Computer) == m[3] && s.Domain == m[4] {
				if !f.Reappear {
					f.Sessions = append(f.Sessions[:i], f.Sessions[i+1:]...)
				}
				xmlOK(w, fmt.Sprintf(`<result><response status="success"><gateway>%s</gateway><domain>(null)</domain><user>%s</user><computer>%s</computer></response></result>`, m[1], m[2], m[3]))
				return
			}
		}
		xmlOK(w, fmt.Sprintf(`<result><response status="error"><gateway>%s</gateway><user>%s</user><error>User not found</error></response></result>`, m[1], m[2]))
	default:
		f.t.Errorf("fake PAN-OS: unexpected request %s", entry)
		xmlErr(w, 200, "17", "Invalid command")
	}
}

func xmlEsc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// FailureFor is the answer that provokes an error of kind k.
func FailureFor(k connectors.Kind) Failure {
	switch k {
	case connectors.KindTransient:
		return Failure{Status: 503, ContentType: "text/plain", Body: "Service Unavailable"}
	case connectors.KindRateLimited:
		return Failure{Status: 429, Header: map[string]string{"Retry-After": "11"}}
	case connectors.KindAuth:
		return Failure{Status: 403, ContentType: "application/xml", Body: `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`}
	case connectors.KindForbidden:
		return Failure{Status: 200, ContentType: "application/xml", Body: `<response status="error" code="16"><msg><line>Unauthorized request; key=` + Key + `</line></msg></response>`}
	case connectors.KindNotFound:
		return Failure{Status: 200, ContentType: "application/xml", Body: `<response status="error" code="7"><msg>No such node</msg></response>`}
	default:
		return Failure{Status: 200, ContentType: "application/xml", Body: `<response status="error" code="17"><msg><line>show -&gt; foo is unexpected</line></msg></response>`}
	}
}
