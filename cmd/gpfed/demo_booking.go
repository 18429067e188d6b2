package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
)

// demoBooker is the named person the demo's bookings are attributed to.
var demoBooker = map[string]string{"sds_user_id": "687227875014", "sds_role_profile_id": "418825193014",
	"family_name": "Okafor", "given_name": "Ngozi"}

// demoBookings books through the real API as the first practice: one of its
// own patients into the second practice (registered there temporarily),
// and one of the second practice's patients, which it then cancels. It
// prints what happened and the caller's key.
func demoBookings(ctx context.Context, out io.Writer, db *store.DB, base string, fed *sim.Federation) (string, error) {
	ps := fed.Practices()
	caller, host := ps[0], ps[1]
	key, _, err := db.CreateAPIKey(ctx, store.RolePractice, caller.ODS, "demo")
	if err != nil {
		return "", err
	}
	c := demoClient{base: base, key: key}
	var page struct {
		Items []struct {
			ID, Start string
			Practice  struct{ Name string }
		}
	}
	if err := c.call(ctx, http.MethodGet, "/v1/slots?practice="+host.ODS+"&limit=2", nil, http.StatusOK, &page); err != nil {
		return "", err
	}
	if len(page.Items) < 2 {
		return "", fmt.Errorf("demo booking: %s offers %d free slots", host.ODS, len(page.Items))
	}
	var kept, cancelled struct{ ID, State, Start string }
	if err := c.call(ctx, http.MethodPost, "/v1/bookings", map[string]any{"slot_id": page.Items[0].ID,
		"patient_nhs_number": fed.Patients(caller.ODS)[0], "description": "Extended access: blood pressure review",
		"booked_by": demoBooker, "register_if_needed": true}, http.StatusCreated, &kept); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "booked %s at %s (%s) for a %s patient, registered there temporarily: booking %s\n",
		kept.Start, host.ODS, page.Items[0].Practice.Name, caller.ODS, kept.ID)
	if err := c.call(ctx, http.MethodPost, "/v1/bookings", map[string]any{"slot_id": page.Items[1].ID,
		"patient_nhs_number": fed.Patients(host.ODS)[0], "description": "Hub review", "booked_by": demoBooker},
		http.StatusCreated, &cancelled); err != nil {
		return "", err
	}
	if err := c.call(ctx, http.MethodPost, "/v1/bookings/"+cancelled.ID+"/cancel", map[string]any{
		"reason": "Patient seen elsewhere", "cancelled_by": demoBooker}, http.StatusAccepted, nil); err != nil {
		return "", err
	}
	if err := c.waitState(ctx, cancelled.ID, store.BookingCancelled); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "booked %s at %s and cancelled it again: booking %s\n", cancelled.Start, host.ODS, cancelled.ID)
	return key, nil
}

// demoClient calls the demo's own API with a practice key.
type demoClient struct{ base, key string }

func (c demoClient) call(ctx context.Context, method, path string, body any, want int, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("demo %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("demo %s %s: HTTP %d: %s", method, path, resp.StatusCode, raw)
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(raw, into)
}

// waitState polls a booking until it reaches state (its queued job ran).
func (c demoClient) waitState(ctx context.Context, id, state string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var b struct{ State string }
		if err := c.call(ctx, http.MethodGet, "/v1/bookings/"+id, nil, http.StatusOK, &b); err != nil {
			return err
		}
		if b.State == state {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("demo booking %s did not become %s within 30s", id, state)
}
