package omemo

import "testing"

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2' prekey='true'>AA==</key><iv>AAECAwQFBgcICQoL</iv></header><payload>aGk=</payload></encrypted>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
