package sim

import (
	"net/http"
	"strings"
	"testing"
)

// gpfed generates webhook secrets, so the simulator's receivers learn
// theirs: in process (SetWebhookSecret) or over HTTP from another process
// (PUT /hooks/<ODS>/secret). After it, only the new secret verifies.
func TestReceiverLearnsGeneratedSecret(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 2, Seed: 4})
	ps := f.Practices()
	old := ps[0]
	f.SetWebhookSecret(ps[0].ODS, "whsec_generated_in_process")
	if got := f.Practices()[0].WebhookSecret; got != "whsec_generated_in_process" {
		t.Fatalf("Practices() reports secret %q", got)
	}
	if code := goodDelivery("a1").post(t, srv.Client(), old); code != http.StatusUnauthorized {
		t.Fatalf("the replaced secret still verifies: %d", code)
	}
	if code := goodDelivery("a2").post(t, srv.Client(), f.Practices()[0]); code != http.StatusOK {
		t.Fatalf("the new secret does not verify: %d", code)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPut, "/hooks/" + ps[1].ODS + "/secret", "whsec_over_http\n", 200},
		{http.MethodPut, "/hooks/" + ps[1].ODS + "/secret", "  ", 400},
		{http.MethodGet, "/hooks/" + ps[1].ODS + "/secret", "", 405},
		{http.MethodPut, "/hooks/Z00000/secret", "x", 404},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.want)
		}
	}
	if got := f.Practices()[1].WebhookSecret; got != "whsec_over_http" {
		t.Fatalf("secret set over HTTP = %q", got)
	}
}
