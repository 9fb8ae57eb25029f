package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// EventStateRecorded is the audit event that records the state a
// transaction wrote: one per case the transaction changed, appended after
// the transaction's other events, with a StateRecord as JSON in its Detail.
// VerifyAuditedState replays these records to the state the rows must be
// in.
const EventStateRecorded = "state.recorded"

// StateRecordVersion is the "v" of the StateRecord format written now.
const StateRecordVersion = 1

// StateRecord is the Detail of an EventStateRecorded event: what one
// transaction wrote to one case's rows. It holds only the fields the
// transaction wrote, taken from what the writer meant to write (never read
// back from the database, so a row changed behind the engine's back is not
// laundered into the record by the next transaction that touches the case).
// Fields left out keep their earlier recorded value.
type StateRecord struct {
	// V is the format version (StateRecordVersion).
	V int `json:"v"`
	// Created is set on the record of the transaction that created the
	// case: from it on, every change of the case's status, of its
	// actions' status, attempts and results and of its approvals' status
	// is recorded.
	Created bool `json:"created,omitempty"`
	// Case is the case's new status, if the transaction set it.
	Case      string          `json:"case,omitempty"`
	Actions   []ActionState   `json:"actions,omitempty"`
	Approvals []ApprovalState `json:"approvals,omitempty"`
	// EquipmentTracked is set on the creation record of a case whose
	// equipment tasks' status is recorded (every case since equipment
	// recovery became a state machine); Equipment lists what the
	// transaction wrote to them.
	EquipmentTracked bool             `json:"eq,omitempty"`
	Equipment        []EquipmentState `json:"equipment,omitempty"`
	// Notices are what the transaction wrote to the case's notices
	// (auditstate_notices.go).
	Notices []NoticeState `json:"notices,omitempty"`
}

// EquipmentState is what a transaction wrote to one equipment task: its
// status, and the digest of its disposal reference.
type EquipmentState struct {
	ID        int64  `json:"id"`
	Status    string `json:"status"`
	Reference string `json:"reference,omitempty"`
}

// ActionState is what a transaction wrote to one action. Text results are
// recorded as digests (see stateDigest): the values themselves are in the
// action's own audit events and row.
type ActionState struct {
	ID int64 `json:"id"`
	// New marks the action's creation: every field is given.
	New    bool   `json:"new,omitempty"`
	Status string `json:"status,omitempty"`
	// Attempts is the attempt count written; AddAttempts an increment
	// (a worker claiming the action counts one more attempt).
	Attempts     *int    `json:"attempts,omitempty"`
	AddAttempts  int     `json:"add_attempts,omitempty"`
	Outcome      *string `json:"outcome,omitempty"`
	Verified     *bool   `json:"verified,omitempty"`
	Detail       *string `json:"detail,omitempty"`
	ResultData   *string `json:"result_data,omitempty"`
	Verification *string `json:"verification,omitempty"`
}

// ApprovalState is an approval's new status.
type ApprovalState struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
}

// stateDigest is how a text result is recorded: the first 16 bytes of its
// SHA-256 in hex, or "" for "".
func stateDigest(s string) string {
	if s == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// StateChanges collects what one transaction writes to cases, actions and
// approvals, for Entries to turn into EventStateRecorded events. The zero
// value is ready to use. A later change of the same row in the same
// transaction overrides the fields it sets.
type StateChanges struct {
	order   []int64
	records map[int64]*StateRecord
	acts    map[int64]*ActionState
	aps     map[int64]*ApprovalState
	nts     map[int64]*NoticeState
}

func (sc *StateChanges) record(caseID int64) *StateRecord {
	if sc.records == nil {
		sc.records = map[int64]*StateRecord{}
		sc.acts = map[int64]*ActionState{}
		sc.aps = map[int64]*ApprovalState{}
		sc.nts = map[int64]*NoticeState{}
	}
	r, ok := sc.records[caseID]
	if !ok {
		r = &StateRecord{V: StateRecordVersion}
		sc.records[caseID] = r
		sc.order = append(sc.order, caseID)
	}
	return r
}

func (sc *StateChanges) action(caseID, id int64) *ActionState {
	sc.record(caseID)
	a, ok := sc.acts[id]
	if !ok {
		a = &ActionState{ID: id}
		sc.acts[id] = a
		r := sc.records[caseID]
		r.Actions = append(r.Actions, ActionState{ID: id}) // filled in by Entries
	}
	return a
}

// Empty reports whether nothing was recorded.
func (sc *StateChanges) Empty() bool { return len(sc.order) == 0 }

// NewCase records the creation of case c in status c.Status.
func (sc *StateChanges) NewCase(c *Case) {
	r := sc.record(c.ID)
	r.Created, r.Case, r.EquipmentTracked = true, c.Status, true
}

// EquipmentStatus records that equipment task id of case caseID was
// created in, or moved to, status, with reference (a disposal's
// certificate, "" for none).
func (sc *StateChanges) EquipmentStatus(caseID, id int64, status, reference string) {
	r := sc.record(caseID)
	st := EquipmentState{ID: id, Status: status, Reference: stateDigest(reference)}
	for i := range r.Equipment {
		if r.Equipment[i].ID == id {
			r.Equipment[i] = st
			return
		}
	}
	r.Equipment = append(r.Equipment, st)
}

// CaseStatus records that case id was set to status.
func (sc *StateChanges) CaseStatus(id int64, status string) {
	sc.record(id).Case = status
}

// NewAction records the creation of action a with all its fields.
func (sc *StateChanges) NewAction(a *Action) {
	s := sc.action(a.CaseID, a.ID)
	attempts, outcome, verified := a.Attempts, a.Outcome, a.Verified
	d, rd, v := stateDigest(a.Detail), stateDigest(a.ResultData), stateDigest(a.Verification)
	*s = ActionState{ID: a.ID, New: true, Status: a.Status, Attempts: &attempts, Outcome: &outcome, Verified: &verified,
		Detail: &d, ResultData: &rd, Verification: &v}
}

// ActionFields records the fields written to action id of case caseID, as
// given to an update: "status", "attempts", "outcome", "verified",
// "detail", "result_data" and "verification" are recorded, other fields
// are not state the audit trail vouches for.
func (sc *StateChanges) ActionFields(caseID, id int64, fields map[string]any) {
	s := sc.action(caseID, id)
	for k, v := range fields {
		switch k {
		case "status":
			if str, ok := v.(string); ok {
				s.Status = str
			}
		case "attempts":
			if n, ok := v.(int); ok {
				s.Attempts, s.AddAttempts = &n, 0
			}
		case "verified":
			if b, ok := v.(bool); ok {
				s.Verified = &b
			}
		case "outcome", "detail", "result_data", "verification":
			str, ok := v.(string)
			if !ok {
				continue
			}
			switch k {
			case "outcome":
				s.Outcome = &str
			case "detail":
				d := stateDigest(str)
				s.Detail = &d
			case "result_data":
				d := stateDigest(str)
				s.ResultData = &d
			case "verification":
				d := stateDigest(str)
				s.Verification = &d
			}
		}
	}
}

// ActionClaimed records that a worker claimed action id (see ClaimAction):
// it is running, one attempt more.
func (sc *StateChanges) ActionClaimed(caseID, id int64) {
	s := sc.action(caseID, id)
	s.Status = ActionRunning
	if s.Attempts != nil {
		n := *s.Attempts + 1
		s.Attempts = &n
	} else {
		s.AddAttempts++
	}
}

// ApprovalStatus records that approval id of case caseID was created in,
// or set to, status.
func (sc *StateChanges) ApprovalStatus(caseID, id int64, status string) {
	r := sc.record(caseID)
	if a, ok := sc.aps[id]; ok {
		a.Status = status
		return
	}
	sc.aps[id] = &ApprovalState{ID: id, Status: status}
	r.Approvals = append(r.Approvals, ApprovalState{ID: id})
}

// Entries returns one EventStateRecorded entry per case changed, in the
// order the cases were first changed, stamped t and attributed to actor.
func (sc *StateChanges) Entries(t time.Time, actor string) []Entry {
	out := make([]Entry, 0, len(sc.order))
	for _, id := range sc.order {
		r := *sc.records[id]
		r.Actions = slices.Clone(r.Actions)
		for i := range r.Actions {
			r.Actions[i] = *sc.acts[r.Actions[i].ID]
		}
		r.Equipment = slices.Clone(r.Equipment)
		r.Approvals = slices.Clone(r.Approvals)
		for i := range r.Approvals {
			r.Approvals[i] = *sc.aps[r.Approvals[i].ID]
		}
		r.Notices = slices.Clone(r.Notices)
		for i := range r.Notices {
			r.Notices[i] = *sc.nts[r.Notices[i].ID]
		}
		b, _ := json.Marshal(r) // plain structs: cannot fail
		res := "v" + strconv.Itoa(StateRecordVersion)
		out = append(out, Entry{Time: t, CaseID: id, Actor: actor, Event: EventStateRecorded, Result: res, Detail: string(b)})
	}
	return out
}

// StateMismatch is one difference between a row and the state its audit
// events lead to.
type StateMismatch struct {
	CaseID     int64 `json:"case_id"`
	ActionID   int64 `json:"action_id,omitempty"`
	ApprovalID int64 `json:"approval_id,omitempty"`
	// EquipmentID names an equipment task.
	EquipmentID int64 `json:"equipment_id,omitempty"`
	// Name is the action's name, the approval's kind or the device's
	// asset tag, when the row exists.
	Name string `json:"name,omitempty"`
	// Field is status, attempts, outcome, verified, detail, result_data,
	// verification, or row (a row the audit trail does not know, or one it
	// knows that is gone).
	Field string `json:"field"`
	// Database is the row's value; Audited what the audit events lead to
	// (a digest for text results).
	Database string `json:"database"`
	Audited  string `json:"audited"`
}

// String renders m on one line, e.g. `case 3 action 17 (disable_ad):
// status is "succeeded" in the database, "queued" by the audit trail`.
func (m StateMismatch) String() string {
	who := fmt.Sprintf("case %d", m.CaseID)
	switch {
	case m.ActionID != 0:
		who += fmt.Sprintf(" action %d", m.ActionID)
	case m.ApprovalID != 0:
		who += fmt.Sprintf(" approval %d", m.ApprovalID)
	case m.EquipmentID != 0:
		who += fmt.Sprintf(" equipment task %d", m.EquipmentID)
	}
	if m.Name != "" {
		who += " (" + m.Name + ")"
	}
	return fmt.Sprintf("%s: %s is %s in the database, %s by the audit trail", who, m.Field, m.Database, m.Audited)
}

// StateReport is the outcome of VerifyAuditedState.
type StateReport struct {
	// Cases, Actions and Approvals count the rows checked.
	Cases     int64 `json:"cases"`
	Actions   int64 `json:"actions"`
	Approvals int64 `json:"approvals"`
	// Unrecorded counts cases created before state records began (see
	// VerifyAuditedState); they are not checked.
	Unrecorded int64 `json:"unrecorded"`
	// OK is true when every checked row matches its audit events.
	OK bool `json:"ok"`
	// MismatchCount counts every mismatch; Mismatches holds the first
	// MaxStateMismatches, in case id order.
	MismatchCount int64           `json:"mismatch_count"`
	Mismatches    []StateMismatch `json:"mismatches,omitempty"`
}

// MaxStateMismatches is how many mismatches a StateReport lists.
const MaxStateMismatches = 1000

// stateCaseBatch is how many cases VerifyAuditedState checks at a time.
const stateCaseBatch = 200

// auditedAction is an action's state as its records lead to it.
type auditedAction struct {
	status                           string
	attempts                         int
	outcome                          string
	verified                         bool
	detail, resultData, verification string
}

type auditedCase struct {
	created   bool
	status    string
	actions   map[int64]*auditedAction
	approvals map[int64]string
	// eqTracked: the case's equipment tasks are recorded; equipment is
	// their status and reference digest.
	eqTracked bool
	equipment map[int64]EquipmentState
	notices   map[int64]*NoticeState
}

func (ac *auditedCase) apply(r *StateRecord) {
	if r.Created {
		ac.created = true
	}
	if r.Case != "" {
		ac.status = r.Case
	}
	for i := range r.Actions {
		s := &r.Actions[i]
		a := ac.actions[s.ID]
		if a == nil || s.New {
			a = &auditedAction{}
			ac.actions[s.ID] = a
		}
		if s.Status != "" {
			a.status = s.Status
		}
		if s.Attempts != nil {
			a.attempts = *s.Attempts
		}
		a.attempts += s.AddAttempts
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = *src
			}
		}
		set(&a.outcome, s.Outcome)
		set(&a.detail, s.Detail)
		set(&a.resultData, s.ResultData)
		set(&a.verification, s.Verification)
		if s.Verified != nil {
			a.verified = *s.Verified
		}
	}
	for _, s := range r.Approvals {
		ac.approvals[s.ID] = s.Status
	}
	if r.EquipmentTracked {
		ac.eqTracked = true
	}
	for _, s := range r.Equipment {
		if ac.equipment == nil {
			ac.equipment = map[int64]EquipmentState{}
		}
		ac.equipment[s.ID] = s
	}
	ac.applyNotices(r.Notices)
}

// VerifyAuditedState checks that the database's state is the state the
// audit trail leads to: every case's status, every action's status,
// attempts and results (outcome, verified, detail, result data,
// verification) and every approval's status must be what the case's
// EventStateRecorded events, replayed in seq order, wrote last; a row the
// records do not know, or one they know that is gone, is a mismatch too.
// Run it after VerifyAudit: it trusts the events it reads.
//
// Cases are checked stateCaseBatch at a time, in id order, over the union
// of the cases table and the case ids of audit events; each batch's records
// are read a batch of 1000 events at a time. Everything is read in one
// read-only transaction (repeatable read on PostgreSQL, a WAL snapshot on
// SQLite), so a service running meanwhile does not show up as mismatches;
// on PostgreSQL the state records that snapshot holds still pending (see
// StageAudit) count after the chained ones.
//
// Chains written before state records existed: a case whose records do not
// include its creation (StateRecord.Created) and whose first audit event
// comes before the chain's first EventStateRecorded event was created
// before the engine recorded state; it is counted in Unrecorded and not
// checked. One whose first event comes after is a mismatch: the engine
// records the creation of every case since. A case row without any audit
// event is always a mismatch.
func (s *Store) VerifyAuditedState(ctx context.Context) (StateReport, error) {
	var rep StateReport
	s.chainForRead(ctx)
	var opts []*sql.TxOptions
	if s.Dialect == DialectPostgres {
		opts = append(opts, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		rep, err = verifyAuditedState(tx)
		return err
	}, opts...)
	return rep, err
}

func verifyAuditedState(db *gorm.DB) (StateReport, error) {
	rep := StateReport{OK: true}
	var firstState []int64
	if err := db.Model(&AuditEvent{}).Where("event = ?", EventStateRecorded).Order("seq").Limit(1).Pluck("seq", &firstState).Error; err != nil {
		return rep, fmt.Errorf("store: verify audited state: %w", err)
	}
	recordsFrom := int64(math.MaxInt64) // no state record: every case predates them
	if len(firstState) == 1 {
		recordsFrom = firstState[0]
	}
	add := func(m StateMismatch) {
		rep.OK = false
		rep.MismatchCount++
		if len(rep.Mismatches) < MaxStateMismatches {
			rep.Mismatches = append(rep.Mismatches, m)
		}
	}
	after := int64(0) // case ids start at 1; events without a case have case_id 0
	for {
		ids, err := nextStateCases(db, after)
		if err != nil {
			return rep, err
		}
		if len(ids) == 0 {
			return rep, nil
		}
		after = ids[len(ids)-1]
		if err := checkStateBatch(db, ids, recordsFrom, &rep, add); err != nil {
			return rep, err
		}
	}
}

// nextStateCases returns the next case ids after after: the smallest
// stateCaseBatch of the union of case rows and audit events' case ids.
func nextStateCases(db *gorm.DB, after int64) ([]int64, error) {
	var rows, audited []int64
	if err := db.Model(&Case{}).Where("id > ?", after).Order("id").Limit(stateCaseBatch).Pluck("id", &rows).Error; err != nil {
		return nil, fmt.Errorf("store: verify audited state: cases: %w", err)
	}
	if err := db.Model(&AuditEvent{}).Distinct("case_id").Where("case_id > ?", after).Order("case_id").Limit(stateCaseBatch).
		Pluck("case_id", &audited).Error; err != nil {
		return nil, fmt.Errorf("store: verify audited state: audit events: %w", err)
	}
	// A full page may stop short of ids the other source has: keep only ids
	// up to the lower end of a full page.
	bound := int64(math.MaxInt64)
	if len(rows) == stateCaseBatch {
		bound = rows[len(rows)-1]
	}
	if len(audited) == stateCaseBatch {
		bound = min(bound, audited[len(audited)-1])
	}
	ids := append(rows, audited...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n := 0
	for _, id := range ids {
		if id <= bound {
			ids[n] = id
			n++
		}
	}
	return ids[:n], nil
}

func checkStateBatch(db *gorm.DB, ids []int64, recordsFrom int64, rep *StateReport, add func(StateMismatch)) error {
	fail := func(what string, err error) error {
		return fmt.Errorf("store: verify audited state: %s: %w", what, err)
	}
	var cases []Case
	if err := db.Where("id IN ?", ids).Find(&cases).Error; err != nil {
		return fail("cases", err)
	}
	var acts []Action
	if err := db.Where("case_id IN ?", ids).Order("case_id, id").Find(&acts).Error; err != nil {
		return fail("actions", err)
	}
	var aps []Approval
	if err := db.Where("case_id IN ?", ids).Order("case_id, id").Find(&aps).Error; err != nil {
		return fail("approvals", err)
	}
	var eqs []EquipmentTask
	if err := db.Where("case_id IN ?", ids).Order("case_id, id").Find(&eqs).Error; err != nil {
		return fail("equipment tasks", err)
	}
	nts, err := noticesOfCases(db, ids)
	if err != nil {
		return fail("notices", err)
	}
	var firsts []struct {
		CaseID int64
		First  int64
	}
	if err := db.Model(&AuditEvent{}).Select("case_id, MIN(seq) AS first").Where("case_id IN ?", ids).Group("case_id").Scan(&firsts).Error; err != nil {
		return fail("first events", err)
	}
	firstSeq := make(map[int64]int64, len(firsts))
	for _, f := range firsts {
		firstSeq[f.CaseID] = f.First
	}
	audited := map[int64]*auditedCase{}
	apply := func(caseID int64, detail, which string) error {
		ac := audited[caseID]
		if ac == nil {
			ac = &auditedCase{actions: map[int64]*auditedAction{}, approvals: map[int64]string{}, notices: map[int64]*NoticeState{}}
			audited[caseID] = ac
		}
		var r StateRecord
		if err := json.Unmarshal([]byte(detail), &r); err != nil || r.V < 1 || r.V > StateRecordVersion {
			// The chain vouches for the event, so this is a writer's
			// bug or a newer format: say so rather than guess.
			return fmt.Errorf("store: verify audited state: %s: unreadable state record (format %d, this build reads 1..%d): %v",
				which, r.V, StateRecordVersion, err)
		}
		ac.apply(&r)
		return nil
	}
	var batch []AuditEvent
	for last := int64(math.MinInt64); ; {
		batch = batch[:0]
		if err := db.Where("case_id IN ? AND event = ? AND seq > ?", ids, EventStateRecorded, last).Order("seq").Limit(auditBatch).Find(&batch).Error; err != nil {
			return fail("state records", err)
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			e := &batch[i]
			last = e.Seq
			if err := apply(e.CaseID, e.Detail, fmt.Sprintf("event %d", e.Seq)); err != nil {
				return err
			}
		}
	}
	// Records committed with their state change but not yet chained (see
	// StageAudit) come after every chained one of their case: a snapshot
	// that sees the change sees its record here.
	var pending []AuditPending
	if err := db.Where("case_id IN ? AND event = ?", ids, EventStateRecorded).Order("id").Find(&pending).Error; err != nil {
		return fail("pending state records", err)
	}
	for _, p := range pending {
		if err := apply(p.CaseID, p.Detail, fmt.Sprintf("pending event %d", p.ID)); err != nil {
			return err
		}
		if _, ok := firstSeq[p.CaseID]; !ok {
			firstSeq[p.CaseID] = math.MaxInt64 // after the first state record
		}
	}

	caseRow := make(map[int64]*Case, len(cases))
	for i := range cases {
		caseRow[cases[i].ID] = &cases[i]
	}
	actsOf := map[int64][]*Action{}
	for i := range acts {
		actsOf[acts[i].CaseID] = append(actsOf[acts[i].CaseID], &acts[i])
	}
	apsOf := map[int64][]*Approval{}
	for i := range aps {
		apsOf[aps[i].CaseID] = append(apsOf[aps[i].CaseID], &aps[i])
	}
	for _, id := range ids {
		row, ac := caseRow[id], audited[id]
		first, hasEvents := firstSeq[id]
		switch {
		case row != nil && !hasEvents:
			add(StateMismatch{CaseID: id, Field: "row", Database: fmt.Sprintf("%q", row.Status), Audited: "absent (the case has no audit events)"})
			continue
		case ac == nil || !ac.created:
			if first < recordsFrom {
				rep.Unrecorded++
				continue
			}
			have := "absent"
			if row != nil {
				have = fmt.Sprintf("%q", row.Status)
			}
			add(StateMismatch{CaseID: id, Field: "row", Database: have, Audited: "unknown (no state record of the case's creation)"})
			continue
		}
		rep.Cases++
		if row == nil {
			add(StateMismatch{CaseID: id, Field: "row", Database: "absent", Audited: fmt.Sprintf("%q", ac.status)})
		} else if row.Status != ac.status {
			add(StateMismatch{CaseID: id, Field: "status", Database: fmt.Sprintf("%q", row.Status), Audited: fmt.Sprintf("%q", ac.status)})
		}
		seen := map[int64]bool{}
		for _, a := range actsOf[id] {
			seen[a.ID] = true
			rep.Actions++
			compareAction(id, a, ac.actions[a.ID], add)
		}
		for _, aid := range sortedIDs(ac.actions) {
			if !seen[aid] {
				add(StateMismatch{CaseID: id, ActionID: aid, Field: "row", Database: "absent", Audited: fmt.Sprintf("%q", ac.actions[aid].status)})
			}
		}
		seen = map[int64]bool{}
		for _, ap := range apsOf[id] {
			seen[ap.ID] = true
			rep.Approvals++
			want, ok := ac.approvals[ap.ID]
			switch {
			case !ok:
				add(StateMismatch{CaseID: id, ApprovalID: ap.ID, Name: ap.Kind, Field: "row", Database: fmt.Sprintf("%q", ap.Status), Audited: "absent"})
			case ap.Status != want:
				add(StateMismatch{CaseID: id, ApprovalID: ap.ID, Name: ap.Kind, Field: "status", Database: fmt.Sprintf("%q", ap.Status), Audited: fmt.Sprintf("%q", want)})
			}
		}
		for _, aid := range sortedIDs(ac.approvals) {
			if !seen[aid] {
				add(StateMismatch{CaseID: id, ApprovalID: aid, Field: "row", Database: "absent", Audited: fmt.Sprintf("%q", ac.approvals[aid])})
			}
		}
		if ac.eqTracked {
			compareEquipment(id, eqs, ac.equipment, add)
		}
		compareNotices(id, nts[id], ac.notices, add)
	}
	return nil
}

// compareEquipment checks case id's equipment task rows against what its
// records wrote last.
func compareEquipment(id int64, eqs []EquipmentTask, want map[int64]EquipmentState, add func(StateMismatch)) {
	seen := map[int64]bool{}
	for i := range eqs {
		t := &eqs[i]
		if t.CaseID != id {
			continue
		}
		seen[t.ID] = true
		w, ok := want[t.ID]
		switch {
		case !ok:
			add(StateMismatch{CaseID: id, EquipmentID: t.ID, Name: t.AssetTag, Field: "row", Database: fmt.Sprintf("%q", t.Status), Audited: "absent"})
		case t.Status != w.Status:
			add(StateMismatch{CaseID: id, EquipmentID: t.ID, Name: t.AssetTag, Field: "status", Database: fmt.Sprintf("%q", t.Status), Audited: fmt.Sprintf("%q", w.Status)})
		case stateDigest(t.Reference) != w.Reference:
			add(StateMismatch{CaseID: id, EquipmentID: t.ID, Name: t.AssetTag, Field: "reference", Database: orNone(stateDigest(t.Reference)), Audited: orNone(w.Reference)})
		}
	}
	for _, eid := range sortedIDs(want) {
		if !seen[eid] {
			add(StateMismatch{CaseID: id, EquipmentID: eid, Field: "row", Database: "absent", Audited: fmt.Sprintf("%q", want[eid].Status)})
		}
	}
}

func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// compareAction reports how row a differs from its audited state want (nil
// if the records never mention it).
func compareAction(caseID int64, a *Action, want *auditedAction, add func(StateMismatch)) {
	m := StateMismatch{CaseID: caseID, ActionID: a.ID, Name: a.Name}
	if want == nil {
		m.Field, m.Database, m.Audited = "row", fmt.Sprintf("%q", a.Status), "absent"
		add(m)
		return
	}
	diff := func(field, db, audited string) {
		m.Field, m.Database, m.Audited = field, db, audited
		add(m)
	}
	if a.Status != want.status {
		diff("status", fmt.Sprintf("%q", a.Status), fmt.Sprintf("%q", want.status))
	}
	if a.Attempts != want.attempts {
		diff("attempts", strconv.Itoa(a.Attempts), strconv.Itoa(want.attempts))
	}
	if a.Outcome != want.outcome {
		diff("outcome", fmt.Sprintf("%q", a.Outcome), fmt.Sprintf("%q", want.outcome))
	}
	if a.Verified != want.verified {
		diff("verified", strconv.FormatBool(a.Verified), strconv.FormatBool(want.verified))
	}
	for _, t := range []struct {
		field, value, digest string
	}{
		{"detail", a.Detail, want.detail},
		{"result_data", a.ResultData, want.resultData},
		{"verification", a.Verification, want.verification},
	} {
		if d := stateDigest(t.value); d != t.digest {
			diff(t.field, fmt.Sprintf("%q (digest %s)", clipText(t.value, 80), orNone(d)), "digest "+orNone(t.digest))
		}
	}
}

func orNone(d string) string {
	if d == "" {
		return "none (empty)"
	}
	return d
}

// clipText shortens s to at most n runes, marking the cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
