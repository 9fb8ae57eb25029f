package app

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
	"github.com/sirupsen/logrus"
	"gorm.io/gorm"
)

// TestStartAnchors: with audit.anchors.file set, the process publishes the
// current head at start, and stop returns once the publisher has.
func TestStartAnchors(t *testing.T) {
	st := store.OpenTestSQLite(t)
	if err := st.Tx(context.Background(), func(tx *gorm.DB) error {
		_, err := store.AppendAudit(tx, store.Entry{CaseID: 1, Actor: "kinetic", Event: "case.created"}, store.Entry{CaseID: 1, Actor: "kinetic", Event: "case.planned"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := st.AuditHeadNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "anchors.jsonl")
	svc := &configs.Service{Audit: configs.Audit{Anchors: configs.AuditAnchors{Interval: configs.Duration(time.Hour), File: file}}}
	a := &App{Config: &configs.Config{Service: svc}, Store: st, Log: logrus.NewEntry(logrus.New())}
	pol, err := outbound.NewURLPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := a.StartAnchors(context.Background(), pol)
	var got *anchor.Record
	testwait.Eventually(t, 10*time.Second, func() bool {
		got, err = anchor.Latest(file)
		return err == nil
	}, func() string { return fmt.Sprintf("no anchor in %s: %v", file, err) })
	stop()
	if got.Seq != seq || got.Hash != hash {
		t.Errorf("anchor %+v, head %d %s", got, seq, hash)
	}
	// No sink configured: nothing runs, stop is harmless.
	a.Config.Service.Audit.Anchors = configs.AuditAnchors{}
	a.StartAnchors(context.Background(), pol)()
}
