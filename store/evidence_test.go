package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestCaseExportVerifiesAlone: one case's export, its events interleaved
// with another case's, verifies on its own (JSON and CSV), and fails once
// an event is edited, dropped or a link altered.
func TestCaseExportVerifiesAlone(t *testing.T) {
	s := OpenTestSQLite(t)
	ctx := ctxForTest(t)
	appendTestEvents(t, s, 2, 1)
	for i := range 3 {
		appendTestEvents(t, s, 1, 2)
		appendTestEvents(t, s, 2, 1+i)
	}
	appendTestEvents(t, s, 1, 1)
	for _, format := range []string{"json", "csv"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := s.ExportAudit(ctx, 1, format, &buf); err != nil {
				t.Fatal(err)
			}
			c, err := ParseExport(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Events) != 7 || len(c.Links) != 6 {
				t.Fatalf("parsed %d events, %d links; want 7, 6", len(c.Events), len(c.Links))
			}
			if _, err := VerifyExcerpt(c); err != nil {
				t.Fatalf("intact export: %v", err)
			}
			edited := strings.Replace(buf.String(), "event 1", "event 9", 1)
			if c2, err := ParseExport([]byte(edited)); err == nil {
				if _, err := VerifyExcerpt(c2); !errors.Is(err, ErrExcerpt) {
					t.Errorf("edited export verifies: %v", err)
				}
			}
			c.Links = append(c.Links[:2], c.Links[3:]...)
			if _, err := VerifyExcerpt(c); !errors.Is(err, ErrExcerpt) {
				t.Errorf("export missing a link verifies: %v", err)
			}
		})
	}
}

// TestCaseChain reads an excerpt and checks it against an independent walk
// of the whole chain.
func TestCaseChain(t *testing.T) {
	s := OpenTestSQLite(t)
	ctx := ctxForTest(t)
	appendTestEvents(t, s, 2, 2)
	appendTestEvents(t, s, 1, 1)
	appendTestEvents(t, s, 2, 2)
	appendTestEvents(t, s, 1, 2)
	appendTestEvents(t, s, 2, 1)
	c, err := s.CaseChain(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var all []AuditEvent
	if err := s.TestDB().Order("seq").Find(&all).Error; err != nil {
		t.Fatal(err)
	}
	if c.Before != all[1].Hash || c.HeadSeq != 8 || c.HeadHash != all[7].Hash {
		t.Fatalf("before %s head %d %s; chain %+v", c.Before, c.HeadSeq, c.HeadHash, all)
	}
	if len(c.Events) != 3 || c.Events[0].Seq != 3 || len(c.Links) != 2 || c.Links[0].Seq != 4 || c.Links[1].Hash != all[4].Hash {
		t.Fatalf("excerpt %+v", c)
	}
	last, err := VerifyExcerpt(c)
	if err != nil || last != all[6].Hash {
		t.Fatalf("verify = %s, %v", last, err)
	}
}
