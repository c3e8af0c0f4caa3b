package handshake_test

import (
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/handshake"
)

// Tests of the state machines' order of calls: each side accepts its calls
// in protocol order only, and once a call has been refused or has failed, it
// refuses everything.

// call is one method call of one side of a handshake, with the message a
// successful run gives it.
type call struct {
	name string
	do   func() error
}

// sides returns, for each of the four sides, a constructor of a fresh side's
// calls in protocol order.
func sides(t *testing.T) map[string]func() []call {
	c := newContact()
	cr := c.run(t, handshake.StatusReceived)
	l := newLink(t)
	lr := l.run(t)
	g := l.grant
	errOf := func(_ any, err error) error { return err }
	return map[string]func() []call{
		"requester": func() []call {
			r := c.newRequester(t)
			return []call{
				{"Hello", func() error { return errOf(r.Hello()) }},
				{"Answer", func() error { return errOf(r.Answer(cr.msg2)) }},
				{"Done", func() error { return errOf(r.Done(cr.msg4)) }},
			}
		},
		"responder": func() []call {
			r := c.newResponder(t)
			return []call{
				{"Reply", func() error { return errOf(r.Reply(cr.msg1)) }},
				{"Card", func() error { return errOf(r.Card(cr.msg3)) }},
				{"Status", func() error { return errOf(r.Status(handshake.StatusReceived)) }},
			}
		},
		"approver": func() []call {
			a := l.newApprover(t)
			return []call{
				{"Hello", func() error { return errOf(a.Hello()) }},
				{"Grant", func() error { return errOf(a.Grant(lr.msg2, &g)) }},
				{"Done", func() error { return a.Done(lr.msg4) }},
			}
		},
		"joiner": func() []call {
			j := l.newJoiner(t)
			return []call{
				{"Reply", func() error { return errOf(j.Reply(lr.msg1, joinerDevice)) }},
				{"Receive", func() error { return errOf(j.Receive(lr.msg3)) }},
				{"Ack", func() error { return errOf(j.Ack()) }},
			}
		},
	}
}

// TestOutOfOrder makes, on every side, every call that is not the next one
// after every valid prefix of calls (Answer before Hello, Status before Card,
// Hello twice, anything after the end...). The call must fail with
// ErrHandshake, and then the side must refuse every call, even the ones a
// correct run would make next.
func TestOutOfOrder(t *testing.T) {
	for side, fresh := range sides(t) {
		n := len(fresh())
		for done := 0; done <= n; done++ {
			for wrong := range n {
				if wrong == done {
					continue
				}
				calls := fresh()
				t.Run(fmt.Sprintf("%s/%d calls then %s", side, done, calls[wrong].name), func(t *testing.T) {
					for _, c := range calls[:done] {
						if err := c.do(); err != nil {
							t.Fatalf("%s: %v", c.name, err)
						}
					}
					wantHandshakeError(t, calls[wrong].name+" out of order", calls[wrong].do())
					for _, c := range calls {
						wantHandshakeError(t, c.name+" after a call out of order", c.do())
					}
				})
			}
		}
	}
}

// TestRefusesAfterFailure feeds each side, at each step that reads a
// message, a bad message: one with a flipped bit or, for the contact msg1
// that Reply cannot authenticate, one byte short. The step must fail, and the side
// must then refuse every call: a caller that goes on after an error must get
// errors, never a panic or a message (such as an acknowledgement of a grant
// that was not received).
func TestRefusesAfterFailure(t *testing.T) {
	c := newContact()
	cr := c.run(t, handshake.StatusReceived)
	l := newLink(t)
	lr := l.run(t)
	bad := func(m []byte) []byte {
		b := append([]byte(nil), m...)
		b[len(b)-1] ^= 1
		return b
	}
	g := l.grant
	errOf := func(_ any, err error) error { return err }
	// Each side's function returns a fresh side's calls in protocol order,
	// the one at badAt given a bad message.
	type sideCalls func(badAt int) []call
	requester := func(badAt int) []call {
		r := c.newRequester(t)
		m2, m4 := cr.msg2, cr.msg4
		switch badAt {
		case 1:
			m2 = bad(m2)
		case 2:
			m4 = bad(m4)
		}
		return []call{
			{"Hello", func() error { return errOf(r.Hello()) }},
			{"Answer", func() error { return errOf(r.Answer(m2)) }},
			{"Done", func() error { return errOf(r.Done(m4)) }},
		}
	}
	responder := func(badAt int) []call {
		r := c.newResponder(t)
		m1, m3 := cr.msg1, cr.msg3
		switch badAt {
		case 0:
			m1 = m1[:len(m1)-1]
		case 1:
			m3 = bad(m3)
		}
		return []call{
			{"Reply", func() error { return errOf(r.Reply(m1)) }},
			{"Card", func() error { return errOf(r.Card(m3)) }},
			{"Status", func() error { return errOf(r.Status(handshake.StatusReceived)) }},
		}
	}
	approver := func(badAt int) []call {
		a := l.newApprover(t)
		m2, m4 := lr.msg2, lr.msg4
		switch badAt {
		case 1:
			m2 = bad(m2)
		case 2:
			m4 = bad(m4)
		}
		return []call{
			{"Hello", func() error { return errOf(a.Hello()) }},
			{"Grant", func() error { return errOf(a.Grant(m2, &g)) }},
			{"Done", func() error { return a.Done(m4) }},
		}
	}
	joiner := func(badAt int) []call {
		j := l.newJoiner(t)
		m1, m3 := lr.msg1, lr.msg3
		switch badAt {
		case 0:
			m1 = bad(m1)
		case 1:
			m3 = bad(m3)
		}
		return []call{
			{"Reply", func() error { return errOf(j.Reply(m1, joinerDevice)) }},
			{"Receive", func() error { return errOf(j.Receive(m3)) }},
			{"Ack", func() error { return errOf(j.Ack()) }},
		}
	}
	for _, tc := range []struct {
		side  string
		calls sideCalls
		badAt []int // the calls that read a message
	}{
		{"requester", requester, []int{1, 2}},
		{"responder", responder, []int{0, 1}},
		{"approver", approver, []int{1, 2}},
		{"joiner", joiner, []int{0, 1}},
	} {
		for _, badAt := range tc.badAt {
			calls := tc.calls(badAt)
			t.Run(tc.side+"/bad "+calls[badAt].name, func(t *testing.T) {
				for _, c := range calls[:badAt] {
					if err := c.do(); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
				}
				wantHandshakeError(t, calls[badAt].name+" of a bad message", calls[badAt].do())
				for _, c := range calls[badAt+1:] {
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s after a failed %s panics: %v", c.name, calls[badAt].name, p)
							}
						}()
						wantHandshakeError(t, c.name+" after a failed "+calls[badAt].name, c.do())
					}()
				}
			})
		}
	}
}
