package webhook

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/jsonenc"
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

// AppendJSON appends e as encoding/json would marshal it, byte for byte
// (FuzzEventsMatchEncodingJSON): one is built per delivery, and
// encoding/json's reflection was 8% of the worker's CPU in bench/tasks.
func (e TaskEvent) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"event":`...)
	b = jsonenc.AppendString(b, e.Event)
	b = appendField(b, "id", e.ID.String())
	b = appendField(b, "sender_ods", e.SenderODS)
	b = appendField(b, "recipient_ods", e.RecipientODS)
	b = appendField(b, "type", e.Type)
	b = appendField(b, "priority", e.Priority)
	b = appendField(b, "subject", e.Subject)
	b = appendField(b, "body", e.Body)
	b = appendField(b, "patient_nhs_number", e.PatientNHSNumber)
	if e.DueDate != "" {
		b = appendField(b, "due_date", e.DueDate)
	}
	return appendCreatedAt(b, e.CreatedAt)
}

// AppendJSON appends e as encoding/json would marshal it (its data through
// encoding/json itself).
func (e NotificationEvent) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"event":`...)
	b = jsonenc.AppendString(b, e.Event)
	b = appendField(b, "id", e.ID.String())
	b = appendField(b, "kind", e.Kind)
	b = appendField(b, "recipient_ods", e.RecipientODS)
	if e.TaskID != nil {
		b = appendField(b, "task_id", e.TaskID.String())
	}
	if e.SubjectODS != "" {
		b = appendField(b, "subject_ods", e.SubjectODS)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	b = append(append(b, `,"data":`...), data...)
	return appendCreatedAt(b, e.CreatedAt)
}

func appendField(b []byte, name, value string) []byte {
	b = append(append(append(b, ',', '"'), name...), '"', ':')
	return jsonenc.AppendString(b, value)
}

func appendCreatedAt(b []byte, t time.Time) ([]byte, error) {
	b = append(b, `,"created_at":`...)
	b, ok := jsonenc.AppendTime(b, t)
	if !ok {
		return nil, fmt.Errorf("created_at %v: year outside 0-9999", t)
	}
	return append(b, '}'), nil
}
