package flight

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestFirstTakeWaitsForRoom(t *testing.T) {
	t.Parallel()
	b := New(100)
	a := b.Claim(80)
	if err := a.Take(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	c := b.Claim(50)
	got := make(chan error, 1)
	go func() { got <- c.Take(context.Background(), 10) }()
	select {
	case err := <-got:
		t.Fatalf("admitted 50 with 80 of 100 in use: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	a.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if used, peak := b.InUse(); used != 50 || peak != 80 {
		t.Errorf("used %d peak %d, want 50 and 80", used, peak)
	}
}

// TestOverdraftNeverWaits: a claim past its estimate is charged without waiting, so two practices
// that both hold bytes can always finish (no deadlock), and the budget counts the overdraft.
func TestOverdraftNeverWaits(t *testing.T) {
	t.Parallel()
	b := New(100)
	a, c := b.Claim(50), b.Claim(50)
	for _, cl := range []*Claim{a, c} {
		if err := cl.Take(t.Context(), 40); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := a.Take(ctx, 60); err != nil {
		t.Fatalf("overdraft waited: %v", err)
	}
	if used, _ := b.InUse(); used != 150 {
		t.Errorf("used %d, want 150 (100 admitted + 50 beyond a's estimate)", used)
	}
	a.Release()
	a.Release()
	c.Release()
	if used, _ := b.InUse(); used != 0 {
		t.Errorf("used %d after every release", used)
	}
}

func TestLargerThanBudgetProceedsAlone(t *testing.T) {
	t.Parallel()
	b := New(100)
	big := b.Claim(500)
	if err := big.Take(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	small := b.Claim(1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if err := small.Take(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("admitted beside an over-budget claim: %v", err)
	}
}

// TestConcurrentWindowsAdmitOnce: a practice's two windows read at once take its estimate once.
func TestConcurrentWindowsAdmitOnce(t *testing.T) {
	t.Parallel()
	b := New(1000)
	c := b.Claim(300)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := c.Take(context.Background(), 10); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if used, _ := b.InUse(); used != 300 {
		t.Errorf("used %d, want the estimate 300 once", used)
	}
	c.Release()
}

func TestNilBudgetChargesNothing(t *testing.T) {
	t.Parallel()
	var b *Budget
	c := b.Claim(10)
	if err := c.Take(t.Context(), 1<<30); err != nil {
		t.Fatal(err)
	}
	c.Release()
	if FromContext(t.Context()).Take(t.Context(), 5) != nil {
		t.Fatal("nil claim from an empty context")
	}
}

// TestReturnFreesRoomEarly: bytes given back before the claim ends admit another practice, but
// never what is still reserved.
func TestReturnFreesRoomEarly(t *testing.T) {
	t.Parallel()
	b := New(100)
	a := b.Claim(60)
	if err := a.Take(t.Context(), 60); err != nil {
		t.Fatal(err)
	}
	a.Return(50)
	if used, _ := b.InUse(); used != 10 {
		t.Fatalf("used %d after returning 50 of 60, want 10", used)
	}
	c := b.Claim(80)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := c.Take(ctx, 1); err != nil {
		t.Fatalf("not admitted after the return: %v", err)
	}
	d := b.Claim(10)
	if err := d.Take(ctx, 4); err != nil {
		t.Fatal(err)
	}
	d.Return(1000) // only the 4 used; 6 stay reserved
	if used, _ := b.InUse(); used != 10+80+6 {
		t.Errorf("used %d, want 96", used)
	}
	a.Release()
	c.Release()
	d.Release()
	if used, _ := b.InUse(); used != 0 {
		t.Errorf("used %d after every release", used)
	}
}
