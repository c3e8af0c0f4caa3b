package state_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// FuzzDecode decodes arbitrary bytes as a metadata event. Nothing may panic;
// errors must wrap wire.ErrMalformed; a decoded event must have exactly one
// field set, must be canonical (Encode gives back the identical bytes) and
// must not panic when applied to the state of a group of any kind.
func FuzzDecode(f *testing.F) {
	for _, v := range eventVectors() {
		f.Add(buildEvent(f, v.In).Encode())
	}
	for _, b := range decodeRejects(f) {
		f.Add(b)
	}
	account := group.New(group.KindAccount, katGroup.ID, katGroup.Secret, []keys.Public{katMember.Public()})
	f.Fuzz(func(t *testing.T, data []byte) {
		input := bytes.Clone(data)
		ev, err := state.Decode(data)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) || ev != nil {
				t.Fatalf("Decode = %+v, %v; want nil and an error wrapping ErrMalformed", ev, err)
			}
			return
		}
		set := 0
		for _, p := range []bool{ev.Announce != nil, ev.Keys != nil, ev.Removed != nil, ev.Admin != nil,
			ev.Info != nil, ev.Joined != nil, ev.Left != nil, ev.Contact != nil, ev.Invited != nil, ev.Seed != nil, ev.Revoked != nil, ev.Approved != nil, ev.Profile != nil,
			ev.Device != nil, ev.Uninvited != nil, ev.Policy != nil, ev.Decision != nil, ev.Succeeded != nil, ev.Verified != nil, ev.Update != nil} {
			if p {
				set++
			}
		}
		if set != 1 || byte(ev.Type()) != data[0] {
			t.Fatalf("decoded event %+v: %d fields set, type %d, input type %d", ev, set, ev.Type(), data[0])
		}
		if enc := ev.Encode(); !bytes.Equal(enc, data) {
			t.Fatalf("non-canonical event accepted: input %x\nre-encodes to %x", data, enc)
		}
		if again, err := state.Decode(data); err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("second Decode = %+v, %v; want %+v", again, err, ev)
		}
		// Byte slices in the result are copies: clobbering the input must
		// not change the event.
		for i := range data {
			data[i] ^= 0xff
		}
		if enc := ev.Encode(); !bytes.Equal(enc, input) {
			t.Fatal("the decoded event aliases its input")
		}
		for _, g := range []*group.Group{katGroup, account} {
			s := state.New(g)
			for seq := uint64(1); seq <= 2; seq++ {
				s.Apply(&state.Op{Author: katDevice.Public(), Seq: seq, Lamport: seq, ID: [32]byte{byte(seq)}, Event: ev})
			}
			_ = s.ActiveDevices()
		}
	})
}
