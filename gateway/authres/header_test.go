package authres

import "testing"

func TestStripOwn(t *testing.T) {
	const body = "\r\nAuthentication-Results: mx.example.org; dkim=pass\r\n"
	for i, tc := range []struct {
		raw, want string
	}{
		{"From: a@b.example\r\n" + body, "From: a@b.example\r\n" + body},
		{"Authentication-Results: mx.example.org; dkim=pass\r\nFrom: a@b.example\r\n" + body, "From: a@b.example\r\n" + body},
		{"authentication-results : MX.Example.Org;\r\n\tdkim=pass header.d=x\r\nFrom: a@b.example\r\n" + body, "From: a@b.example\r\n" + body},
		{"Authentication-Results: (forged) \"mx.example.org\" 1; none\r\nFrom: a@b.example\r\n" + body, "From: a@b.example\r\n" + body},
		{"Authentication-Results: mx.other.example; dkim=pass\r\nFrom: a@b.example\r\n" + body,
			"Authentication-Results: mx.other.example; dkim=pass\r\nFrom: a@b.example\r\n" + body},
		{"From: a@b.example\r\nAuthentication-Results: mx.example.org; spf=pass\r\nTo: c@d.example\r\n" + body,
			"From: a@b.example\r\nTo: c@d.example\r\n" + body},
		{"Authentication-Results: mx.example.org.evil; dkim=pass\r\n" + body, "Authentication-Results: mx.example.org.evil; dkim=pass\r\n" + body},
	} {
		if got := string(StripOwn([]byte(tc.raw), "mx.example.org")); got != tc.want {
			t.Errorf("%d: StripOwn = %q, want %q", i, got, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"remote.example":                     "remote.example",
		"evil.example;dkim=pass":             "evil.exampledkimpass",
		"a\r\nAuthentication-Results: x; \"": "aAuthentication-Resultsx",
		"(comment)":                          "comment",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSubmissionField(t *testing.T) {
	for _, tc := range []struct{ user, want string }{
		{"alice@example.org", "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=alice@example.org\r\n"},
		{"relay", "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=relay\r\n"},
		{"a b;c=d\r\nX: y", "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=abcdXy\r\n"},
		{"a@b@c", "Authentication-Results: mx.example.org;\r\n\tauth=pass smtp.auth=abc\r\n"},
		{";", "Authentication-Results: mx.example.org;\r\n\tauth=pass\r\n"},
	} {
		if got := SubmissionField("mx.example.org", tc.user); got != tc.want {
			t.Errorf("SubmissionField(%q) = %q, want %q", tc.user, got, tc.want)
		}
	}
	if got := NoneField("mx.example.org"); got != "Authentication-Results: mx.example.org; none\r\n" {
		t.Errorf("NoneField = %q", got)
	}
}
