package mime

import (
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// readHeader fills the RFC 5322 §3.6 fields of w.msg. Unparsable fields
// are left empty and noted in Warnings: they do not make a mail malformed.
func (w *walker) readHeader(h mail.Header) {
	m := w.msg
	subject, err := h.Subject()
	w.warn("subject", err)
	m.Subject = cleanLine(subject)
	m.From = w.addressList(h, "From")
	m.To = w.addressList(h, "To")
	m.Cc = w.addressList(h, "Cc")
	date, err := h.Date()
	w.warn("date", err)
	m.Date = date
	id, err := h.MessageID()
	w.warn("message-id", err)
	m.MessageID = cleanLine(id)
	m.InReplyTo = w.msgIDList(h, "In-Reply-To")
	m.References = w.msgIDList(h, "References")
}

func (w *walker) addressList(h mail.Header, key string) []Address {
	list, err := h.AddressList(key)
	w.warn(strings.ToLower(key), err)
	var out []Address
	for _, a := range list {
		out = append(out, Address{Name: cleanLine(a.Name), Addr: cleanLine(a.Address)})
	}
	return out
}

func (w *walker) msgIDList(h mail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	w.warn(strings.ToLower(key), err)
	for i := range ids {
		ids[i] = cleanLine(ids[i])
	}
	return ids
}

// warn records a recoverable problem with field.
func (w *walker) warn(field string, err error) {
	if err != nil {
		w.msg.Warnings = append(w.msg.Warnings, field+": "+cleanLine(err.Error()))
	}
}

// headerSize is the raw size of a parsed header block.
func headerSize(h message.Header) int {
	n := 0
	for f := h.Fields(); f.Next(); {
		raw, _ := f.Raw()
		n += len(raw)
	}
	return n
}
