package webhook

import (
	"time"

	"github.com/google/uuid"
)

// TaskEvent is the body of a Gpfed-Event: task delivery. The receiving
// practice is entitled to the clinical content, so it carries the patient's
// NHS number, subject and body. DueDate is YYYY-MM-DD or absent.
type TaskEvent struct {
	Event            string    `json:"event"` // "task"
	ID               uuid.UUID `json:"id"`
	SenderODS        string    `json:"sender_ods"`
	RecipientODS     string    `json:"recipient_ods"`
	Type             string    `json:"type"`
	Priority         string    `json:"priority"`
	Subject          string    `json:"subject"`
	Body             string    `json:"body"`
	PatientNHSNumber string    `json:"patient_nhs_number"`
	DueDate          string    `json:"due_date,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// NotificationEvent is the body of a Gpfed-Event: notification delivery.
// It never carries patient data: ids, ODS codes, counts and codes only.
type NotificationEvent struct {
	Event        string         `json:"event"` // "notification"
	ID           uuid.UUID      `json:"id"`
	Kind         string         `json:"kind"`
	RecipientODS string         `json:"recipient_ods"`
	TaskID       *uuid.UUID     `json:"task_id,omitempty"`
	SubjectODS   string         `json:"subject_ods,omitempty"`
	Data         map[string]any `json:"data"`
	CreatedAt    time.Time      `json:"created_at"`
}
