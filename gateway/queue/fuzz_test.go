package queue

import (
	"errors"
	"testing"
	"time"
)

// FuzzEnvelope feeds damaged envelope files to the decoder: it must return
// an error wrapping ErrDamaged, never panic, and whatever it accepts must
// survive a round trip.
func FuzzEnvelope(f *testing.F) {
	e := testEnvelope("bob@example.net", "carol@example.net")
	e.ID = NewID()
	e.Received = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e.Bodies[0].SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	e.Recipients[0].State, e.Recipients[1].State = StatePending, StateFailed
	e.Recipients[1].Diag = &Diagnostic{Status: "5.1.1"}
	good, err := encodeEnvelope(e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"v":1,"id":"aaaaaaaaaaaaaaaaaaaaaaaaaa","bodies":[],"recipients":[{"body":-1}]}`))
	f.Add([]byte(`{"v":1} {"v":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error does not wrap ErrDamaged: %v", err)
			}
			return
		}
		again, err := encodeEnvelope(got)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := decodeEnvelope(again); err != nil {
			t.Fatalf("accepted envelope does not round-trip: %v", err)
		}
	})
}
