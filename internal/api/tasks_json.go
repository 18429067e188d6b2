package api

import (
	"time"
	_ "time/tzdata" // due dates are England dates; hosts may lack system tzdata

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
)

var ukZone = loadUKZone()

func loadUKZone() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("api: load Europe/London: " + err.Error()) // unreachable: tzdata is embedded
	}
	return loc
}

// taskJSON is the task as the API shows it to its sender and recipient.
// Absent values are null rather than missing, so clients see every field.
type taskJSON struct {
	ID               string  `json:"id"`
	SenderODS        string  `json:"sender_ods"`
	RecipientODS     string  `json:"recipient_ods"`
	PatientNHSNumber *string `json:"patient_nhs_number"`
	Type             string  `json:"type"`
	Priority         string  `json:"priority"`
	Subject          string  `json:"subject"`
	Body             string  `json:"body"`
	DueDate          *string `json:"due_date"`
	State            string  `json:"state"`
	Channel          *string `json:"channel"`
	Attempts         int     `json:"attempts"`
	LastError        *string `json:"last_error"`
	// LastErrorCategory is the webhook failure category of LastError
	// (unreachable, timeout, tls, http_4xx, http_5xx), else null.
	LastErrorCategory *string     `json:"last_error_category"`
	CreatedAt         time.Time   `json:"created_at"`
	UpdatedAt         time.Time   `json:"updated_at"`
	DeliveredAt       *time.Time  `json:"delivered_at"`
	AcknowledgedAt    *time.Time  `json:"acknowledged_at"`
	FinishedAt        *time.Time  `json:"finished_at"`
	ExpiresAt         time.Time   `json:"expires_at"`
	RedactedAt        *time.Time  `json:"redacted_at"`
	Events            []eventJSON `json:"events,omitempty"`
}

type eventJSON struct {
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	Action    string         `json:"action"`
	FromState *string        `json:"from_state"`
	ToState   *string        `json:"to_state"`
	Detail    map[string]any `json:"detail"`
}

type notificationJSON struct {
	ID             string         `json:"id"`
	Kind           string         `json:"kind"`
	TaskID         *string        `json:"task_id"`
	SubjectODS     *string        `json:"subject_ods"`
	Data           map[string]any `json:"data"`
	State          string         `json:"state"`
	Channel        *string        `json:"channel"`
	Attempts       int            `json:"attempts"`
	CreatedAt      time.Time      `json:"created_at"`
	DeliveredAt    *time.Time     `json:"delivered_at"`
	AcknowledgedAt *time.Time     `json:"acknowledged_at"`
}

// pageJSON is one page of a newest-first list; NextCursor is null on the
// last page.
type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func toTaskJSON(t store.Task, events []store.TaskEvent) taskJSON {
	out := taskJSON{
		ID: t.ID.String(), SenderODS: t.SenderODS, RecipientODS: t.RecipientODS,
		PatientNHSNumber: nullable(t.PatientNHSNumber), Type: t.Type, Priority: t.Priority, Subject: t.Subject, Body: t.Body,
		DueDate: nullable(t.DueDate), State: t.State, Channel: nullable(t.Channel), Attempts: t.Attempts,
		LastError: nullable(t.LastError), CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
		DeliveredAt: utc(t.DeliveredAt), AcknowledgedAt: utc(t.AcknowledgedAt), FinishedAt: utc(t.FinishedAt),
		ExpiresAt: t.ExpiresAt.UTC(), RedactedAt: utc(t.RedactedAt),
		LastErrorCategory: nullable(string(webhook.CategoryOf(t.LastError))),
	}
	for _, e := range events {
		out.Events = append(out.Events, eventJSON{At: e.At.UTC(), Actor: e.Actor, Action: e.Action,
			FromState: nullable(e.FromState), ToState: nullable(e.ToState), Detail: e.Detail})
	}
	return out
}

func toNotificationJSON(n store.Notification) notificationJSON {
	out := notificationJSON{ID: n.ID.String(), Kind: n.Kind, SubjectODS: nullable(n.SubjectODS), Data: n.Data,
		State: n.State, Channel: nullable(n.Channel), Attempts: n.Attempts, CreatedAt: n.CreatedAt.UTC(),
		DeliveredAt: utc(n.DeliveredAt), AcknowledgedAt: utc(n.AcknowledgedAt)}
	if n.TaskID != nil {
		id := n.TaskID.String()
		out.TaskID = &id
	}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
