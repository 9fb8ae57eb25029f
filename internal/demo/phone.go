package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/store"
)

// The demo's locked phone: the example policy's equipment block gains the
// simulated asset tracker (assets) and MDM (mdm), phones are due 2s after
// the effective time and a device overdue by 2s is locked. Dana
// Whitfield's (E1001) phone PH-1001 is never returned: the sweep locks it
// through the MDM, and the lock is read back.

// phoneEquipment is the demo's equipment block.
const phoneEquipment = `{categories: {LT: laptop, PH: phone, MN: monitor, AC: access_card}, teams: [{team: it-assets}],
  tracker: assets, due: {phone: 2s},
  mdm: {connector: mdm, lock_when: [involuntary], lock_overdue_after: 2s, wipe_when_lost: true}}`

// phonePolicy replaces the policy's equipment block with phoneEquipment
// and says so.
func phonePolicy(root *yaml.Node) (string, error) {
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(phoneEquipment), &v); err != nil {
		return "", err
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "equipment" {
			old := root.Content[i+1]
			for j := 0; j+1 < len(old.Content); j += 2 {
				if old.Content[j].Value == "return_instructions" { // kept: the demo's laptop shows them
					v.Content[0].Content = append(v.Content[0].Content, old.Content[j], old.Content[j+1])
				}
			}
			root.Content[i+1] = v.Content[0]
			return "equipment: the simulated asset tracker and MDM wired in; phones due 2s after the effective time and locked 2s overdue (shipped: neither, 7d)", nil
		}
	}
	return "", fmt.Errorf("policy has no equipment block")
}

// phonePhase waits for the lock of the phone of case c (overdue, never
// returned) and checks it went through the MDM and was read back.
func phonePhase(ctx context.Context, a *app.App, o Options, c *store.Case, check func(bool, string, ...any)) bool {
	tasks, err := a.Store.EquipmentTasks(ctx, c.ID)
	if err != nil {
		check(false, "%s's equipment tasks: %v", c.EmployeeName, err)
		return false
	}
	var phone *store.EquipmentTask
	for i := range tasks {
		if tasks[i].Category == "phone" {
			phone = &tasks[i]
		}
	}
	if phone == nil {
		check(false, "%s has a phone to recover", c.EmployeeName)
		return false
	}
	fmt.Fprintf(o.Out, "\nAn overdue phone (%s's %s, due %s, never returned):\n", c.EmployeeName, phone.AssetTag, phone.DueAt.Local().Format("15:04:05"))
	name := "lock_devices." + phone.AssetTag
	var lock *store.Action
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := a.Store.CaseWithActions(ctx, c.ID); err == nil {
			if l := actionByName(got, name); l != nil && store.ActionFinal(l.Status) {
				lock = l
				break
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond): // polling the database, bounded by the deadline
		}
	}
	ok := lock != nil && lock.Status == store.ActionSucceeded && lock.Verified
	detail := "(never settled)"
	if lock != nil {
		detail = fmt.Sprintf("%s %s: %s; read back: %s", lock.Connector, lock.Status, lock.Detail, lock.Verification)
	}
	check(ok, "%s overdue: the sweep locked it through the MDM — %s", phone.AssetTag, strings.Join(strings.Fields(detail), " "))
	if now, err := a.Store.EquipmentTask(ctx, phone.ID); err == nil {
		check(now.Status == store.EquipmentOpen, "%s is still %s: locking is not recovering; its team still has the task", phone.AssetTag, engine.EquipmentWord(now.Status))
	}
	return ok
}
