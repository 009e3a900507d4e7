package natsstore

import (
	"errors"
	"testing"

	"passerelle/gateway/queue"
)

// FuzzDecodePut: a put record read back from the stream (written by any
// node, possibly by another version, possibly damaged) never panics, and
// is either rejected as damaged or re-encodes to a record that decodes the
// same.
func FuzzDecodePut(f *testing.F) {
	e := testEnvelope("bob@example.net")
	e.ID = queue.NewID()
	e.Bodies[0].Size, e.Bodies[0].SHA256 = 4, "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
	e.Recipients[0].State = queue.StatePending
	rec, err := encodePut(e, []bool{true}, [][]byte{[]byte("abcd")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"v":1,"inline":[false],"env":{}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, inline, err := decodePut(data)
		if err != nil {
			if !errors.Is(err, queue.ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		flags := make([]bool, len(inline))
		var bodies [][]byte
		for n, b := range inline {
			if b != nil {
				flags[n], bodies = true, append(bodies, b)
			}
		}
		again, err := encodePut(env, flags, bodies)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, _, err := decodePut(again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
	})
}
