package gpconnect_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gpfed/gpfed/internal/gpconnect"
)

// A provider given without a service root is resolved for the interaction
// of each call; when it cannot be, nothing is sent and the error says why,
// marked NotSent so that a booking is never treated as possibly made.
func TestProviderResolvedPerInteraction(t *testing.T) {
	t.Parallel()
	c, fed, ps := simClient(t)
	known := map[string]gpconnect.Provider{}
	for _, p := range ps {
		known[p.ODS] = p
	}
	var asked []string
	resolve := func(_ context.Context, ods, interaction string) (gpconnect.Provider, error) {
		asked = append(asked, interaction)
		if ods == ps[1].ODS {
			return gpconnect.Provider{}, &gpconnect.Error{SpineCode: "SDS_NO_ENDPOINT"}
		}
		return known[ods], nil
	}
	rc := c.WithResolver(resolve)
	bare := func(p gpconnect.Provider) gpconnect.Provider { return gpconnect.Provider{ODS: p.ODS} }

	slot := firstSlot(t, rc, bare(ps[0]))
	if len(asked) != 1 || asked[0] != gpconnect.InteractionSearchSlots || slot.ID == "" {
		t.Fatalf("slot search resolved %v", asked)
	}
	nhs := fed.Patients(ps[0].ODS)[0]
	if found, err := rc.FindPatient(t.Context(), bare(ps[0]), clerk, nhs); err != nil || len(found) != 1 {
		t.Fatalf("find patient through the resolver: %v %v", found, err)
	}
	if asked[1] != gpconnect.InteractionSearchPatient {
		t.Errorf("find patient resolved %s", asked[1])
	}

	before := fed.Requests(ps[1].ODS)
	_, err := rc.BookAppointment(t.Context(), bare(ps[1]), clerk, appointmentFor(slot, "1"))
	var gerr *gpconnect.Error
	if !errors.As(err, &gerr) || gerr.SpineCode != "SDS_NO_ENDPOINT" || !gerr.NotSent || gerr.OutcomeUnknown() ||
		gerr.Interaction != gpconnect.InteractionCreateAppointment {
		t.Fatalf("unresolvable practice: %#v", err)
	}
	if fed.Requests(ps[1].ODS) != before {
		t.Error("a call was sent to a practice whose endpoint is unknown")
	}
	if _, err := c.FindPatient(t.Context(), bare(ps[0]), clerk, nhs); !errors.As(err, &gerr) ||
		gerr.SpineCode != gpconnect.CodeNoEndpoint || !gerr.NotSent {
		t.Fatalf("no resolver configured: %#v", err)
	}
}
