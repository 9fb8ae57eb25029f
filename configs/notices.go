package configs

import (
	"maps"
	"net/url"
	"slices"

	"github.com/kineticsec/kinetic/internal/noticeack"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Notices is the notices: block: the signed acknowledgement links that
// notice emails carry (internal/noticeack) and the page that takes them
// (kinetic serve's GET and POST /notices/ack).
type Notices struct {
	// AckPage is the confirmation page's public URL as the receiving
	// teams reach it, e.g. https://kinetic.corp.example/notices/ack
	// (required).
	AckPage string `yaml:"ack_page"`
	// AckKey is the HMAC-SHA256 key links are signed with, at least 32
	// bytes ({env: NAME} or {file: PATH}; required). Changing it voids
	// every link not yet used.
	AckKey secret.Secret `yaml:"ack_key"`
	// AckTTL is how long a link works; default 14d.
	AckTTL Duration `yaml:"ack_ttl"`
}

func (s *Service) validateNotices(d *doc) {
	n := s.Notices
	if n == nil {
		return
	}
	if u, err := url.Parse(n.AckPage); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		d.add("notices.ack_page", "want the confirmation page's absolute URL, without query, e.g. https://kinetic.corp.example/notices/ack")
	} else if u.Scheme != "https" && !(u.Scheme == "http" && outbound.IsLoopbackHost(u.Hostname())) {
		d.add("notices.ack_page", "the page must be https (plain http only on a loopback address)")
	}
	if !n.AckKey.IsSet() {
		d.add("notices.ack_key", "ack_key is required ({env: NAME} or {file: PATH}, at least %d bytes)", noticeack.MinKeyBytes)
	} else if v := n.AckKey.Value(); v != "" && len(v) < noticeack.MinKeyBytes {
		d.add("notices.ack_key", "the key has %d bytes; at least %d are needed", len(v), noticeack.MinKeyBytes)
	}
	if n.AckTTL < 0 {
		d.add("notices.ack_ttl", "must not be negative")
	}
}

// validateNoticeTeams checks that every team a connector sends notices to
// (connspec.Spec.NoticeTeams: the email connector's teams) can be reached
// when its notice waits: a route (routing.TEAM: the notice's escalation
// and its Acknowledge button go there) or an approver group
// (approver_groups.TEAM: its members acknowledge by button or callback).
// A team with neither leaves a notice nobody can acknowledge but by its
// link, and a case that never closes when the mail is lost.
func (s *Service) validateNoticeTeams(d *doc) {
	for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
		ci := s.Connectors[name]
		if ci == nil || ci.spec == nil || ci.spec.NoticeTeams == nil || ci.Block == nil {
			continue
		}
		teams := ci.spec.NoticeTeams(ci.Block)
		for _, key := range slices.Sorted(maps.Keys(teams)) {
			team := teams[key]
			_, routed := s.Routing[team]
			_, group := s.ApproverGroups[team]
			if !routed && !group {
				d.add(joinKey("connectors", name)+"."+ci.Type+"."+key,
					"notice team %q has neither a route (routing.%s) nor an approver group (approver_groups.%s): nobody could acknowledge its notices by button or callback, or hear that one is overdue", team, team, team)
			}
		}
	}
}
