package wait

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilSignalled(t *testing.T) {
	var w Cond
	var n atomic.Int64
	done := make(chan error)
	go func() { done <- w.Until(context.Background(), func() bool { return n.Load() == 3 }) }()
	for range 3 {
		n.Add(1)
		w.Signal()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestUntilDeadline(t *testing.T) {
	var w Cond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := w.Until(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Until = %v, want the deadline", err)
	}
}

func TestUntilAlreadyTrue(t *testing.T) {
	var w Cond
	if err := w.Until(context.Background(), func() bool { return true }); err != nil {
		t.Fatal(err)
	}
}

// TestUntilSignalDuringCheck: a Signal that arrives while the condition is
// being evaluated (here: from inside it) must lead to another check, not to
// sleeping until the deadline — a lost wakeup the first version had.
func TestUntilSignalDuringCheck(t *testing.T) {
	var w Cond
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err := w.Until(ctx, func() bool {
		calls++
		if calls == 1 {
			w.Signal() // the event happens right after the check said no
			return false
		}
		return true
	})
	if err != nil || calls != 2 {
		t.Fatalf("Until = %v after %d checks, want nil after 2", err, calls)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Until slept through a signal")
	}
}
