package compose

import (
	"net/mail"
	"time"
)

// composition is the validated header of one Compose call.
type composition struct {
	lim       Limits
	from      mail.Address
	to        []mail.Address
	subject   string // encoded
	date      time.Time
	id        string
	inReplyTo []string
	refs      []string
	autocrypt string
	emb       *embedded // nil without Input.Embedded
}

func newComposition(in Input) (*composition, error) {
	c := &composition{lim: in.Limits.withDefaults()}
	if err := c.addresses(in); err != nil {
		return nil, err
	}
	emb := &embedded{}
	if in.Embedded != nil {
		var err error
		if emb, err = readEmbedded(in.Embedded, c.lim); err != nil {
			return nil, err
		}
		c.emb = emb
	}
	if err := c.identity(in, emb); err != nil {
		return nil, err
	}
	c.threading(in, emb)
	c.subject = subjectValue(in.Subject)
	if c.subject == "" {
		c.subject = subjectValue(emb.subject)
	}
	if in.AutocryptKey != nil {
		ac, err := AutocryptHeader(c.from.Address, in.AutocryptKey, in.AutocryptMutual)
		if err != nil {
			return nil, err
		}
		c.autocrypt = ac
	}
	return c, nil
}

func (c *composition) addresses(in Input) error {
	from, ok := checkAddress(in.From)
	if !ok {
		return invalid("from address %.80q", in.From.Address)
	}
	c.from = from
	if len(in.To) == 0 {
		return invalid("no recipient")
	}
	for _, a := range in.To {
		to, ok := checkAddress(a)
		if !ok {
			return invalid("to address %.80q", a.Address)
		}
		c.to = append(c.to, to)
	}
	return nil
}

// identity settles Date and Message-ID: Input, else Embedded, else new.
func (c *composition) identity(in Input, emb *embedded) error {
	c.date = in.Date
	if c.date.IsZero() {
		c.date = emb.date
	}
	if c.date.IsZero() {
		c.date = time.Now()
	}
	if in.MessageID != "" {
		id, ok := msgID(in.MessageID)
		if !ok {
			return invalid("message-id %.80q", in.MessageID)
		}
		c.id = id
		return nil
	}
	if c.id = emb.id; c.id != "" {
		return nil
	}
	host := in.Hostname
	if host == "" {
		host = domainOf(c.from.Address)
	}
	if !validHost(host) {
		return invalid("hostname %.80q", host)
	}
	c.id = newMsgID(host)
	return nil
}

// threading settles In-Reply-To and References (RFC 5322 §3.6.4).
func (c *composition) threading(in Input, emb *embedded) {
	c.inReplyTo = msgIDs([]string{in.InReplyTo})
	c.refs = msgIDs(in.References)
	if len(c.inReplyTo) == 0 && len(c.refs) == 0 {
		c.inReplyTo, c.refs = emb.inReplyTo, emb.refs
	}
	if root, ok := msgID(in.Thread); ok && (len(c.refs) == 0 || c.refs[0] != root) {
		c.refs = msgIDs(append([]string{root}, c.refs...))
	}
	if len(c.refs) == 0 && len(c.inReplyTo) > 0 {
		c.refs = c.inReplyTo
	}
	c.refs = trimReferences(c.refs)
}

// fields are the message header fields, before the content fields.
func (c *composition) fields() []field {
	fs := []field{
		{"Date", c.date.Format(dateLayout)},
		{"From", c.from.String()},
		{"To", formatAddresses(c.to)},
	}
	if len(c.emb.ccList()) > 0 {
		fs = append(fs, field{"Cc", formatAddresses(c.emb.cc)})
	}
	if c.subject != "" {
		fs = append(fs, field{"Subject", c.subject})
	}
	fs = append(fs, field{"Message-ID", "<" + c.id + ">"})
	if len(c.inReplyTo) > 0 {
		fs = append(fs, field{"In-Reply-To", formatIDs(c.inReplyTo)})
	}
	if len(c.refs) > 0 {
		fs = append(fs, field{"References", formatIDs(c.refs)})
	}
	if c.autocrypt != "" {
		fs = append(fs, field{"Autocrypt", c.autocrypt})
	}
	fs = append(fs, field{"MIME-Version", "1.0"})
	return append(fs, c.emb.extraFields()...)
}
