package configs

import (
	"maps"
	"slices"
	"strings"
)

// TicketPolicy is the policy's tickets block: which ITSM system files a
// ticket for which team, so the team that must act on an equipment task
// (its assignee team) or a manual step (the owner of its connector
// instance) finds it in its own queue. For example:
//
//	tickets:
//	  connector: snow-itsm              # the default ticket system
//	  teams:
//	    it-berlin: {assignment_group: d625dccec0a8016700a222a0f7900d06}
//	    it-assets: {assignment_group: "IT Asset Management"}
//	    facilities: {connector: jira-itsm, project: FAC, issue_type: Task}
//
// Only the teams listed get tickets. The ticket is opened when the task
// is created (or the manual step awaits a person), updated with every
// move of the task and closed with its final disposition (the step done
// or skipped).
type TicketPolicy struct {
	// Connector names the default ticket connector instance (type
	// servicenow or jira): a team entry without its own connector uses
	// it.
	Connector string `yaml:"connector"`
	// Teams routes each team (its routing name) to a ticket system and
	// its queue there.
	Teams map[string]*TicketTeam `yaml:"teams"`
}

// TicketTeam is one team's ticket routing. The parameters override the
// connector instance's defaults for this team's tickets.
type TicketTeam struct {
	// Connector overrides TicketPolicy.Connector for this team.
	Connector string `yaml:"connector"`
	// AssignmentGroup is the ServiceNow assignment_group (sys_id, or name
	// when the instance resolves display values).
	AssignmentGroup string `yaml:"assignment_group"`
	// Project and IssueType are the Jira project key and issue type.
	Project   string `yaml:"project"`
	IssueType string `yaml:"issue_type"`
}

// maxTicketParam bounds a routing parameter (a sys_id is 32 characters, a
// group name or issue type far less).
const maxTicketParam = 200

// TicketRoute returns the connector instance and the ticket parameters
// (connectors.TicketRequest.Params) for team's tickets; ok is false when
// the team gets none.
func (tp *TicketPolicy) TicketRoute(team string) (connector string, params map[string]string, ok bool) {
	if tp == nil {
		return "", nil, false
	}
	t := tp.Teams[team]
	if t == nil {
		return "", nil, false
	}
	connector = t.Connector
	if connector == "" {
		connector = tp.Connector
	}
	if connector == "" {
		return "", nil, false
	}
	params = map[string]string{}
	for k, v := range map[string]string{"assignment_group": t.AssignmentGroup, "project": t.Project, "issue_type": t.IssueType} {
		if v != "" {
			params[k] = v
		}
	}
	return connector, params, true
}

// validateTickets checks the tickets block: every connector it names is
// configured and is a ticket system (a connectors.Ticketer type), every
// team is a team name with a connector, and each parameter fits the
// system it is for.
func (p *Policy) validateTickets(d *doc, svc *Service) {
	tp := p.File.Tickets
	if tp == nil {
		return
	}
	ticketer := func(key, name string) string {
		ci, ok := svc.connector(name)
		switch {
		case svc != nil && !ok:
			d.add(key, "connector %q is not configured (configured: %s)", name, strings.Join(slices.Sorted(maps.Keys(svc.Connectors)), ", "))
		case ci == nil:
		case ci.spec != nil && !ci.spec.Ticketer:
			d.add(key, "connector %q (%s) is not a ticket system (types servicenow and jira file tickets)", name, describeInstance(ci))
		default:
			return ci.Type
		}
		return ""
	}
	defType := ""
	if tp.Connector != "" {
		defType = ticketer("tickets.connector", tp.Connector)
	}
	if len(tp.Teams) == 0 {
		d.add("tickets.teams", "list the teams that get tickets (team: {assignment_group: …} or {project: …})")
	}
	for _, team := range slices.Sorted(maps.Keys(tp.Teams)) {
		key := "tickets.teams." + team
		if !nameRE.MatchString(team) {
			d.add(key, "%q is not a team name (letters, digits, '-', '_', '.')", team)
		}
		t := tp.Teams[team]
		if t == nil {
			t = &TicketTeam{}
		}
		typ := defType
		switch {
		case t.Connector != "":
			typ = ticketer(key+".connector", t.Connector)
		case tp.Connector == "":
			d.add(key, "no ticket system: set tickets.connector or %s.connector", key)
		}
		for param, v := range map[string]string{"assignment_group": t.AssignmentGroup, "project": t.Project, "issue_type": t.IssueType} {
			switch {
			case v == "":
			case len(v) > maxTicketParam || strings.ContainsAny(v, "^\r\n"):
				d.add(key+"."+param, "must be at most %d characters, without ^ or a line break", maxTicketParam)
			case typ == "servicenow" && param != "assignment_group", typ == "jira" && param == "assignment_group":
				d.add(key+"."+param, "%s does not apply to a %s connector", param, typ)
			}
		}
	}
}
