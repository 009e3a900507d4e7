package mime

import (
	"strings"
	"testing"
)

func TestRenderHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"entities", `<p>a &amp; b &lt;c&gt; &eacute;&#233;&#x263a;</p>`, "a & b <c> éé☺"},
		{"whitespace", "<p>  one\n\t two   </p>\n\n<p>three</p>", "one two\n\nthree"},
		{"inline no space", `<b>bold</b><i>italic</i>`, "bolditalic"},
		{"script and style", `<script>x()</script><style>p{}</style>ok`, "ok"},
		{"unclosed head", `<html><head><title>t</title><body>body text`, "body text"},
		{"link", `<a href="https://a.example/x">site</a>`, "site <https://a.example/x>"},
		{"link equal text", `<a href="https://a.example/">https://a.example/</a>`, "https://a.example/"},
		{"javascript link", `<a href="javascript:evil()">click</a>`, "click"},
		{"data link", `<a href="data:text/html,x">x</a>`, "x"},
		{"image link", `<a href="https://a.example/"><img src="https://t.example/p.gif" alt="Logo"></a>`, "[Logo] <https://a.example/>"},
		{"tracking pixel", `<img src="https://t.example/p.gif">text`, "text"},
		{"br", `a<br>b<br><br>c`, "a\nb\n\nc"},
		{"list", `<ul><li>x</li><li>y</li></ul>`, "- x\n- y"},
		{"pre", "<pre>a\n  b</pre>", "a\n  b"},
		{"control chars", "a\x00b\x1bc", "abc"},
		{"nested skip", `<svg><svg></svg><text>hidden</text></svg>shown`, "shown"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, trunc, err := renderHTML(strings.NewReader(tc.in), 1<<20)
			if err != nil || trunc {
				t.Fatalf("case %d: err %v truncated %v", i, err, trunc)
			}
			if got = strings.TrimSpace(got); got != tc.want {
				t.Errorf("case %d: got %q, want %q", i, got, tc.want)
			}
		})
	}
}
