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
