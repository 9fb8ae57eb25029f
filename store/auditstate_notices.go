package store

import (
	"fmt"
	"strconv"

	"gorm.io/gorm"
)

// NoticeState is what a transaction wrote to one notice: its recording
// (New, with its team), its acknowledgement (a digest of who and how) and
// its escalation level. Fields left out keep their earlier value.
type NoticeState struct {
	ID   int64  `json:"id"`
	New  bool   `json:"new,omitempty"`
	Team string `json:"team,omitempty"`
	// Ack is the digest of "acknowledged_by|acknowledged_how" once
	// acknowledged.
	Ack   string `json:"ack,omitempty"`
	Level *int   `json:"level,omitempty"`
}

func (sc *StateChanges) notice(caseID, id int64) *NoticeState {
	r := sc.record(caseID)
	n, ok := sc.nts[id]
	if !ok {
		n = &NoticeState{ID: id}
		sc.nts[id] = n
		r.Notices = append(r.Notices, NoticeState{ID: id}) // filled in by Entries
	}
	return n
}

// NoticeSent records that notice n was delivered (a resend of a recorded
// notice changes none of the recorded fields).
func (sc *StateChanges) NoticeSent(n *Notice) {
	s := sc.notice(n.CaseID, n.ID)
	s.New, s.Team = true, n.Team
}

// NoticeAcknowledged records an acknowledgement.
func (sc *StateChanges) NoticeAcknowledged(caseID, id int64, by, how string) {
	sc.notice(caseID, id).Ack = stateDigest(by + "|" + how)
}

// NoticeEscalated records a notice's new escalation level.
func (sc *StateChanges) NoticeEscalated(caseID, id int64, level int) {
	sc.notice(caseID, id).Level = &level
}

func (ac *auditedCase) applyNotices(ns []NoticeState) {
	for _, s := range ns {
		n := ac.notices[s.ID]
		if n == nil {
			n = &NoticeState{ID: s.ID}
			ac.notices[s.ID] = n
		}
		if s.New {
			n.New, n.Team = true, s.Team
		}
		if s.Ack != "" {
			n.Ack = s.Ack
		}
		if s.Level != nil {
			l := *s.Level
			n.Level = &l
		}
	}
}

func noticesOfCases(db *gorm.DB, ids []int64) (map[int64][]Notice, error) {
	var ns []Notice
	if err := db.Where("case_id IN ?", ids).Order("case_id, id").Find(&ns).Error; err != nil {
		return nil, err
	}
	out := map[int64][]Notice{}
	for _, n := range ns {
		out[n.CaseID] = append(out[n.CaseID], n)
	}
	return out, nil
}

// compareNotices reports how a case's notice rows differ from their
// audited state: an acknowledgement (who, how) or escalation level the
// records do not lead to, or a row they do not know or know that is gone.
func compareNotices(caseID int64, rows []Notice, audited map[int64]*NoticeState, add func(StateMismatch)) {
	seen := map[int64]bool{}
	for _, n := range rows {
		seen[n.ID] = true
		m := StateMismatch{CaseID: caseID, ActionID: n.ActionID, Name: "notice " + strconv.FormatInt(n.ID, 10) + " to " + n.Team}
		want := audited[n.ID]
		if want == nil {
			m.Field, m.Database, m.Audited = "notice row", "present", "absent"
			add(m)
			continue
		}
		ack := ""
		if n.AcknowledgedAt != nil {
			ack = stateDigest(n.AcknowledgedBy + "|" + n.AcknowledgedHow)
		}
		if ack != want.Ack {
			m.Field, m.Database, m.Audited = "acknowledged", fmt.Sprintf("%q by %q (digest %s)", n.AcknowledgedHow, n.AcknowledgedBy, orNone(ack)), "digest "+orNone(want.Ack)
			add(m)
		}
		level := 0
		if want.Level != nil {
			level = *want.Level
		}
		if n.EscalatedLevel != level {
			m.Field, m.Database, m.Audited = "escalated_level", strconv.Itoa(n.EscalatedLevel), strconv.Itoa(level)
			add(m)
		}
	}
	for _, id := range sortedIDs(audited) {
		if !seen[id] {
			add(StateMismatch{CaseID: caseID, Name: "notice " + strconv.FormatInt(id, 10) + " to " + audited[id].Team, Field: "notice row", Database: "absent", Audited: "present"})
		}
	}
}
