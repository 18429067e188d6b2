package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// submitter posts tasks concurrently, retrying each with the same
// Idempotency-Key through outages, and records what the API accepted.
type submitter struct {
	ts   *testStack
	nhs  []string
	ods  []string
	text func(i int) (subject, body string)

	mu       sync.Mutex
	accepted map[string]string // Idempotency-Key -> task id
	statuses map[int]int       // every answer's status, retries included
	problems map[int]int       // answers that were application/problem+json, by status
	netErrs  int
	bad      []string // unexpected answers
	n        atomic.Int64
}

func newSubmitter(ts *testStack) *submitter {
	return &submitter{ts: ts, nhs: nhsNumbers(50), ods: ts.ODS(), accepted: map[string]string{},
		statuses: map[int]int{}, problems: map[int]int{},
		text: func(i int) (string, string) {
			return fmt.Sprintf("e2e task %d", i), fmt.Sprintf("end-to-end delivery check number %d", i)
		}}
}

// task i goes from practice i mod n to another practice, varying the pair.
func (s *submitter) task(i int) (sender string, t NewTask) {
	n := len(s.ods)
	sender = s.ods[i%n]
	recipient := s.ods[(i+1+(i/n)%(n-1))%n]
	subject, body := s.text(i)
	t = NewTask{RecipientODS: recipient, PatientNHSNumber: s.nhs[i%len(s.nhs)], Type: "information",
		Priority: []string{"routine", "urgent"}[i%2], Subject: subject, Body: body}
	return sender, t
}

// run posts tasks [0, total) with concurrency posters; each task is
// retried until accepted or ctx ends.
func (s *submitter) run(ctx context.Context, total, concurrency int) {
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				s.post(ctx, i)
			}
		}()
	}
	wg.Wait()
}

func (s *submitter) post(ctx context.Context, i int) {
	sender, t := s.task(i)
	key := fmt.Sprintf("e2e-%05d", i)
	for ctx.Err() == nil {
		resp, err := s.ts.API.PostTask(ctx, s.ts.Keys[sender], key, t)
		if done := s.record(key, resp, err); done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// record notes one answer and reports whether the task is settled.
func (s *submitter) record(key string, resp Response, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.netErrs++
		return false
	}
	s.statuses[resp.Status]++
	if resp.Problem() {
		s.problems[resp.Status]++
	}
	switch {
	case (resp.Status == http.StatusAccepted || resp.Status == http.StatusOK) && resp.ID != "":
		if prev, ok := s.accepted[key]; ok && prev != resp.ID {
			s.bad = append(s.bad, fmt.Sprintf("%s: replay answered task %s, first answer was %s", key, resp.ID, prev))
		}
		s.accepted[key] = resp.ID
		s.n.Add(1)
		return true
	case resp.Status == http.StatusServiceUnavailable:
		return false
	default:
		s.bad = append(s.bad, fmt.Sprintf("%s: %d %s", key, resp.Status, resp.Body))
		return true
	}
}

// acceptedIDs is the set of task ids the API accepted.
func (s *submitter) acceptedIDs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.accepted))
	for _, id := range s.accepted {
		out[id] = true
	}
	return out
}

// atHalf calls fault (in its own goroutine) once half of total are accepted.
func (s *submitter) atHalf(ctx context.Context, total int, fault func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s.n.Load() < int64(total/2) {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		fault()
	}()
	return done
}

func (s *submitter) summary(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("submitted: %d accepted; answers by status %v (problem+json %v); network errors %d",
		len(s.accepted), s.statuses, s.problems, s.netErrs)
	for _, b := range s.bad[:min(len(s.bad), 10)] {
		t.Errorf("unexpected answer: %s", b)
	}
}
