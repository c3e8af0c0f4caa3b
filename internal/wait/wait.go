// Package wait lets a goroutine wait until a condition that other goroutines
// make true holds, re-checking it each time they signal, with a deadline.
// The demo, the bench and the end-to-end tests wait on deliveries with it,
// instead of sleeping.
package wait

import (
	"context"
	"sync"
)

// Cond is a condition to wait on. The zero value is ready to use; a Cond
// must not be copied after first use.
type Cond struct {
	mu   sync.Mutex // guards gen; c's lock
	gen  uint64     // incremented by every Signal
	once sync.Once
	c    *sync.Cond
}

func (w *Cond) init() { w.once.Do(func() { w.c = sync.NewCond(&w.mu) }) }

// Signal wakes the waiters so that they check their condition again. Call it
// whenever something that may make a condition true happened.
func (w *Cond) Signal() {
	w.init()
	w.mu.Lock()
	w.gen++
	w.c.Broadcast()
	w.mu.Unlock()
}

// Until blocks until ok returns true, calling it once at first and again
// after every Signal, or until ctx is done, when it returns ctx.Err(). ok is
// called without any lock held; a Signal that arrives while ok runs is not
// lost: ok is then called again at once.
func (w *Cond) Until(ctx context.Context, ok func() bool) error {
	w.init()
	stop := context.AfterFunc(ctx, w.Signal)
	defer stop()
	for {
		w.mu.Lock()
		seen := w.gen
		w.mu.Unlock()
		// No lock is held, nor deferred, while ok runs: it may panic or
		// end its goroutine (t.Fatal in a test).
		if ok() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		w.mu.Lock()
		for w.gen == seen {
			w.c.Wait()
		}
		w.mu.Unlock()
	}
}
