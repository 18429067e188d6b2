package webhook_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/webhook"
)

// FuzzEventsMatchEncodingJSON: a delivery's body is the same bytes
// encoding/json writes for the event, whatever its text holds (the
// signature covers those bytes, so receivers see no difference).
func FuzzEventsMatchEncodingJSON(f *testing.F) {
	f.Add("Review bloods", "Seen at hub <today> & \"urgent\"\nHb 95\u2028", "2026-12-01", int64(1764451800123456789), true)
	f.Add("", "bad \xff utf8 \x00", "", int64(0), false)
	f.Add("é中😀", "\t\b\f\r", "x", int64(-62135596800), true)
	f.Fuzz(func(t *testing.T, subject, body, due string, nanos int64, withTask bool) {
		at := time.Unix(0, nanos).In(time.FixedZone("", 3600))
		id := uuid.New()
		task := webhook.TaskEvent{Event: webhook.EventTask, ID: id, SenderODS: "A20047", RecipientODS: "B82001<",
			Type: "review", Priority: "urgent", Subject: subject, Body: body, PatientNHSNumber: "9434765919", DueDate: due, CreatedAt: at}
		var taskID *uuid.UUID
		if withTask {
			taskID = &id
		}
		note := webhook.NotificationEvent{Event: webhook.EventNotification, ID: id, Kind: "task.delivered", RecipientODS: "A20047",
			TaskID: taskID, SubjectODS: due, Data: map[string]any{"channel": body, "attempts": 2, "z": []any{subject, nil}}, CreatedAt: at}
		for _, ev := range []interface {
			AppendJSON([]byte) ([]byte, error)
		}{task, note} {
			want, werr := json.Marshal(ev)
			got, gerr := ev.AppendJSON(nil)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("%T: encoding/json error %v, AppendJSON error %v", ev, werr, gerr)
			}
			if werr == nil && string(got) != string(want) {
				t.Errorf("%T:\n AppendJSON   %s\n encoding/json %s", ev, got, want)
			}
		}
	})
}

// BenchmarkTaskEventJSON: a task's webhook body by AppendJSON and by
// encoding/json (go test ./internal/webhook -run '^$' -bench TaskEventJSON -benchmem).
func BenchmarkTaskEventJSON(b *testing.B) {
	ev := webhook.TaskEvent{Event: webhook.EventTask, ID: uuid.New(), SenderODS: "A20047", RecipientODS: "B82001",
		Type: "review", Priority: "routine", Subject: "Please review bloods", Body: "Seen at the hub today; Hb 95, please repeat in 2 weeks.",
		PatientNHSNumber: "9434765919", DueDate: "2026-12-14", CreatedAt: time.Now().UTC()}
	b.Run("AppendJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := ev.AppendJSON(make([]byte, 0, 512+len(ev.Subject)+len(ev.Body))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
