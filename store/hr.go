package store

import "time"

// HREventRecord is every valid HR event received, before it is applied:
// nothing accepted is lost, and (Source, EventID) makes a repeated delivery
// a no-op.
type HREventRecord struct {
	ID          int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	Source      string `gorm:"size:64;not null;uniqueIndex:idx_hr_event_once" json:"source"`
	EventID     string `gorm:"size:256;not null;uniqueIndex:idx_hr_event_once" json:"event_id"`
	Kind        string `gorm:"size:16;not null" json:"kind"`
	EmployeeID  string `gorm:"size:128;index" json:"employee_id,omitempty"`
	Email       string `gorm:"size:320" json:"email,omitempty"`
	Date        string `gorm:"size:10" json:"date,omitempty"`
	Time        string `gorm:"size:8" json:"time,omitempty"` // HH:MM or HH:MM:SS
	Involuntary bool   `json:"involuntary"`
	Reason      string `gorm:"size:1024" json:"reason,omitempty"`
	Payload     string `gorm:"type:text" json:"-"`
	// Outcome is received until applied, then one of the engine's HR
	// outcomes (opened, rescheduled, cancelled, …) or error.
	Outcome    string    `gorm:"size:32;not null" json:"outcome"`
	CaseID     int64     `json:"case_id,omitempty"`
	Detail     string    `gorm:"size:2048" json:"detail,omitempty"`
	ReceivedAt time.Time `gorm:"not null" json:"received_at"`
}
