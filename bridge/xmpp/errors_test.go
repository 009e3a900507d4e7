package xmpp

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		condition, typ string
		wantTemporary  bool
	}{
		{"service-unavailable", "cancel", false},
		{"item-not-found", "cancel", false},
		{"forbidden", "auth", false},
		{"not-allowed", "cancel", false},
		{"not-acceptable", "modify", false},
		{"policy-violation", "modify", false},
		{"bad-request", "modify", false},
		{"jid-malformed", "modify", false},
		{"gone", "cancel", false},
		{"redirect", "modify", false},
		{"internal-server-error", "wait", true},
		{"internal-server-error", "cancel", true},
		{"resource-constraint", "wait", true},
		{"recipient-unavailable", "wait", true},
		{"remote-server-not-found", "cancel", true},
		{"remote-server-timeout", "wait", true},
		{"undefined-condition", "wait", true},
		{"undefined-condition", "cancel", false},
		{"unexpected-request", "wait", true},
		{"unexpected-request", "modify", false},
		{"x-custom", "", true},
		{"", "", true},
	}
	for i, tc := range tests {
		e := Classify(tc.condition, tc.typ, "")
		if e.Temporary() != tc.wantTemporary {
			t.Errorf("%d: Classify(%q, %q).Temporary() = %v, want %v", i, tc.condition, tc.typ, e.Temporary(), tc.wantTemporary)
		}
	}
}
