package smtpd

// Metrics receives counts of what a Server does. Label values are bounded:
// listener is the Mode's name ("mx", "submission"); no addresses. It is
// defined here, by its consumer; cmd/passerelle implements it with
// Prometheus. A nil Metrics in Config counts nothing.
type Metrics interface {
	// Connection counts an accepted or refused connection; result is
	// "accepted", "refused_busy" or "refused_per_ip".
	Connection(listener, result string)
	// Transaction counts the end of a DATA transaction; result is
	// "accepted", "refused" (the Sink said no) or "aborted" (the client
	// or a limit cut DATA short).
	Transaction(listener, result string)
	// Reply counts one final reply by its class: "2xx", "3xx", "4xx", "5xx".
	Reply(listener, class string)
}

type nopMetrics struct{}

func (nopMetrics) Connection(string, string)  {}
func (nopMetrics) Transaction(string, string) {}
func (nopMetrics) Reply(string, string)       {}

// replyClass is the class label of a reply line ("2xx"), "" if the line
// has no reply code.
func replyClass(line string) string {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' {
		return ""
	}
	return line[:1] + "xx"
}
