package replica

import (
	"crypto/rand"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

func TestSmokeContact(t *testing.T) {
	a, _ := keys.Generate(rand.Reader)
	b, _ := keys.Generate(rand.Reader)
	ad, _ := keys.Generate(rand.Reader)
	bd, _ := keys.Generate(rand.Reader)
	ga, err := group.Contact(a, b.Public())
	if err != nil {
		t.Fatal(err)
	}
	gb, _ := group.Contact(b, a.Public())
	if ga.ID != gb.ID || ga.Secret != gb.Secret {
		t.Fatal("contact groups differ")
	}
	ra, _ := New(Config{Group: ga, Account: a, Device: ad, Rand: rand.Reader}, nil)
	rb, _ := New(Config{Group: gb, Account: b, Device: bd, Rand: rand.Reader}, nil)
	la, lb := memLookup{}, memLookup{}
	var wire [][]byte
	flush := func(r *Replica, l memLookup) {
		rd := r.Ready()
		l.persist(rd)
		for _, e := range rd.Outbox {
			wire = append(wire, e.Encoded)
		}
		r.Advance()
	}
	if err := ra.AnnounceOwner(la); err != nil {
		t.Fatal(err)
	}
	flush(ra, la)
	if err := rb.AnnounceOwner(lb); err != nil {
		t.Fatal(err)
	}
	flush(rb, lb)
	deliver := func() []Message {
		var got []Message
		for len(wire) > 0 {
			w := wire
			wire = nil
			for _, raw := range w {
				for _, x := range []struct {
					r *Replica
					l memLookup
				}{{ra, la}, {rb, lb}} {
					if _, err := x.r.Receive(raw, x.l); err != nil {
						t.Fatal(err)
					}
					rd := x.r.Ready()
					got = append(got, rd.Messages...)
					flush(x.r, x.l)
				}
			}
		}
		return got
	}
	deliver()
	if _, err := ra.Send([]byte("hello bob"), la); err != nil {
		t.Fatal(err)
	}
	flush(ra, la)
	got := deliver()
	if len(got) != 1 || string(got[0].Body) != "hello bob" {
		t.Fatalf("got %+v", got)
	}
}
