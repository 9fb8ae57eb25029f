package store

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ChainLink is an audit event of another case inside a case's chain
// excerpt: only its seq and hashes, so the excerpt links from the case's
// first event to its last without showing other people's records. A link's
// own hash cannot be recomputed from the excerpt (its contents are left
// out); `kinetic audit verify` recomputes it from the database.
type ChainLink struct {
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// CaseChain is one case's stretch of the audit chain: every event of the
// case, the other cases' events between them as links, and the head when
// it was read.
type CaseChain struct {
	// Before is the hash of the event just before the case's first (the
	// first event's prev_hash; GenesisHash when it is event 1).
	Before string `json:"before_hash"`
	// Events are the case's events in seq order.
	Events []AuditEvent `json:"events"`
	// Links are the other events between the case's first and last.
	Links []ChainLink `json:"links,omitempty"`
	// HeadSeq and HeadHash are the audit head when the excerpt was read.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
}

// ErrExcerpt is wrapped by VerifyExcerpt's failures.
var ErrExcerpt = errors.New("audit excerpt does not verify")

// CaseChain reads caseID's chain excerpt (see CaseChain). A case without
// events fails with ErrNoAuditEvents.
func (s *Store) CaseChain(ctx context.Context, caseID int64) (*CaseChain, error) {
	s.chainForRead(ctx)
	db := s.db.WithContext(ctx)
	var heads []AuditHead
	if err := db.Where("id = 1").Limit(1).Find(&heads).Error; err != nil {
		return nil, fmt.Errorf("store: case chain: %w", err)
	}
	if len(heads) == 0 {
		return nil, fmt.Errorf("store: case chain: %w", ErrNoAuditHead)
	}
	c := &CaseChain{HeadSeq: heads[0].Seq, HeadHash: heads[0].Hash}
	if err := db.Where("case_id = ? AND seq <= ?", caseID, c.HeadSeq).Order("seq").Find(&c.Events).Error; err != nil {
		return nil, fmt.Errorf("store: case chain: %w", err)
	}
	if len(c.Events) == 0 {
		return nil, fmt.Errorf("store: case chain: case %d: %w", caseID, ErrNoAuditEvents)
	}
	first, last := c.Events[0].Seq, c.Events[len(c.Events)-1].Seq
	c.Before = c.Events[0].PrevHash
	var others []AuditEvent
	if err := db.Select("seq", "prev_hash", "hash").Where("seq > ? AND seq < ? AND case_id <> ?", first, last, caseID).Order("seq").Find(&others).Error; err != nil {
		return nil, fmt.Errorf("store: case chain: %w", err)
	}
	for _, o := range others {
		c.Links = append(c.Links, ChainLink{Seq: o.Seq, PrevHash: o.PrevHash, Hash: o.Hash})
	}
	return c, nil
}

// VerifyExcerpt checks a chain excerpt on its own, without the database:
// every event's hash matches its contents; the first event's prev_hash is
// Before; the events and links, merged by seq, run contiguously and each
// one's prev_hash is the hash of the one before it. It returns the hash of
// the excerpt's last event. Failures wrap ErrExcerpt and name the seq.
func VerifyExcerpt(c *CaseChain) (string, error) {
	if c == nil || len(c.Events) == 0 {
		return "", fmt.Errorf("%w: no events", ErrExcerpt)
	}
	type item struct {
		seq        int64
		prev, hash string
		event      *AuditEvent
	}
	items := make([]item, 0, len(c.Events)+len(c.Links))
	i, j := 0, 0
	for i < len(c.Events) || j < len(c.Links) {
		if j >= len(c.Links) || (i < len(c.Events) && c.Events[i].Seq < c.Links[j].Seq) {
			e := &c.Events[i]
			items = append(items, item{e.Seq, e.PrevHash, e.Hash, e})
			i++
		} else {
			l := c.Links[j]
			items = append(items, item{l.Seq, l.PrevHash, l.Hash, nil})
			j++
		}
	}
	if items[0].event == nil {
		return "", fmt.Errorf("%w: the excerpt starts with another case's event %d", ErrExcerpt, items[0].seq)
	}
	if !strings.EqualFold(items[0].prev, c.Before) {
		return "", fmt.Errorf("%w: event %d: prev_hash is not the hash before the case (%s)", ErrExcerpt, items[0].seq, c.Before)
	}
	for k, it := range items {
		if it.event != nil && HashEvent(it.event) != it.event.Hash {
			return "", fmt.Errorf("%w: event %d: hash does not match its contents (edited)", ErrExcerpt, it.seq)
		}
		if k == 0 {
			continue
		}
		p := items[k-1]
		if it.seq != p.seq+1 {
			return "", fmt.Errorf("%w: event %d follows %d (an event is missing or repeated)", ErrExcerpt, it.seq, p.seq)
		}
		if it.prev != p.hash {
			return "", fmt.Errorf("%w: event %d: prev_hash is not event %d's hash", ErrExcerpt, it.seq, p.seq)
		}
	}
	last := items[len(items)-1]
	if last.event == nil {
		return "", fmt.Errorf("%w: the excerpt ends with another case's event %d", ErrExcerpt, last.seq)
	}
	if last.seq > c.HeadSeq && c.HeadSeq > 0 {
		return "", fmt.Errorf("%w: event %d is past the head %d", ErrExcerpt, last.seq, c.HeadSeq)
	}
	if last.seq == c.HeadSeq && last.hash != c.HeadHash {
		return "", fmt.Errorf("%w: event %d is the head but its hash is not the head's", ErrExcerpt, last.seq)
	}
	return last.hash, nil
}

// CaseApprovals returns caseID's approvals (oldest first) and every
// decision on them (by time).
func (s *Store) CaseApprovals(ctx context.Context, caseID int64) ([]Approval, []ApprovalDecision, error) {
	db := s.db.WithContext(ctx)
	var aps []Approval
	if err := db.Where("case_id = ?", caseID).Order("id").Find(&aps).Error; err != nil {
		return nil, nil, fmt.Errorf("store: case approvals: %w", err)
	}
	if len(aps) == 0 {
		return nil, nil, nil
	}
	ids := make([]int64, len(aps))
	for i, a := range aps {
		ids[i] = a.ID
	}
	var ds []ApprovalDecision
	if err := db.Where("approval_id IN ?", ids).Order("at, id").Find(&ds).Error; err != nil {
		return nil, nil, fmt.Errorf("store: case approvals: %w", err)
	}
	return aps, ds, nil
}

// CasesEffectiveBetween returns, with their actions, the cases whose
// effective time is in [from, to), oldest first.
func (s *Store) CasesEffectiveBetween(ctx context.Context, from, to time.Time) ([]Case, error) {
	var cs []Case
	err := s.db.WithContext(ctx).Preload("Actions", func(db *gorm.DB) *gorm.DB {
		return db.Order("phase, name, id")
	}).Where("effective_at >= ? AND effective_at < ?", from.UTC(), to.UTC()).Order("effective_at, id").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("store: cases between: %w", err)
	}
	return cs, nil
}

// AuditHeadNow returns the audit head's seq and hash, once every event
// pending when it is called is chained (see StageAudit).
func (s *Store) AuditHeadNow(ctx context.Context) (int64, string, error) {
	s.chainForRead(ctx)
	var heads []AuditHead
	if err := s.db.WithContext(ctx).Where("id = 1").Limit(1).Find(&heads).Error; err != nil {
		return 0, "", fmt.Errorf("store: audit head: %w", err)
	}
	if len(heads) == 0 {
		return 0, "", fmt.Errorf("store: audit head: %w", ErrNoAuditHead)
	}
	return heads[0].Seq, heads[0].Hash, nil
}

// formatLinks encodes links for the CSV export's links column:
// "SEQ:PREV_HASH:HASH" joined by ";".
func formatLinks(links []ChainLink) string {
	parts := make([]string, len(links))
	for i, l := range links {
		parts[i] = strconv.FormatInt(l.Seq, 10) + ":" + l.PrevHash + ":" + l.Hash
	}
	return strings.Join(parts, ";")
}

// parseLinks decodes formatLinks's encoding.
func parseLinks(s string) ([]ChainLink, error) {
	if s == "" {
		return nil, nil
	}
	var out []ChainLink
	for _, p := range strings.Split(s, ";") {
		f := strings.Split(p, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("link %q: want SEQ:PREV_HASH:HASH", p)
		}
		seq, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("link %q: %v", p, err)
		}
		out = append(out, ChainLink{Seq: seq, PrevHash: f[1], Hash: f[2]})
	}
	return out, nil
}

// ParseExport reads a file ExportAudit wrote (JSON or CSV, told apart by
// its first byte) back into a chain excerpt, HeadSeq and HeadHash unset.
func ParseExport(data []byte) (*CaseChain, error) {
	c := &CaseChain{}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var evs []exportedRead
		if err := json.Unmarshal(trimmed, &evs); err != nil {
			return nil, fmt.Errorf("store: parse export: %w", err)
		}
		for _, e := range evs {
			c.Links = append(c.Links, e.Links...)
			c.Events = append(c.Events, e.AuditEvent)
		}
	} else {
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("store: parse export: %w", err)
		}
		if len(rows) == 0 || len(rows[0]) < 12 || rows[0][11] != "links" {
			return nil, fmt.Errorf("store: parse export: not an audit export with links (header %v)", rows)
		}
		for k, row := range rows[1:] {
			if len(row) < 12 {
				return nil, fmt.Errorf("store: parse export: row %d has %d columns", k+2, len(row))
			}
			var e AuditEvent
			var err1, err2, err3, err4 error
			e.Seq, err1 = strconv.ParseInt(row[0], 10, 64)
			e.Time, err2 = time.Parse(time.RFC3339Nano, row[1])
			e.CaseID, err3 = strconv.ParseInt(row[2], 10, 64)
			e.ActionID, err4 = strconv.ParseInt(row[3], 10, 64)
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				return nil, fmt.Errorf("store: parse export: row %d: %w", k+2, err)
			}
			e.Actor, e.System, e.Event, e.Result, e.Detail, e.PrevHash, e.Hash = row[4], row[5], row[6], row[7], row[8], row[9], row[10]
			links, err := parseLinks(row[11])
			if err != nil {
				return nil, fmt.Errorf("store: parse export: row %d: %w", k+2, err)
			}
			c.Links = append(c.Links, links...)
			c.Events = append(c.Events, e)
		}
	}
	if len(c.Events) == 0 {
		return nil, fmt.Errorf("store: parse export: %w", ErrNoAuditEvents)
	}
	c.Before = c.Events[0].PrevHash
	return c, nil
}

// exportedRead is exportedEvent's shape for reading.
type exportedRead struct {
	AuditEvent
	Links []ChainLink `json:"links,omitempty"`
}
