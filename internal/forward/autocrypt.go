package forward

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"go.uber.org/zap"

	"passerelle/gateway/mime"
)

// AutocryptLearner learns a remote correspondent's key from the Autocrypt
// header fields of the mail they send (bridge/keys.AutocryptStore).
type AutocryptLearner interface {
	Learn(ctx context.Context, from string, date time.Time, headers []string) error
}

// learnAutocrypt hands an accepted mail from a remote correspondent to the
// Autocrypt learner, if any. Mail with more than one From address teaches
// nothing (Autocrypt Level 1 §2.3), nor does mail From a local domain.
// Errors only cost the learning: the mail is already spooled.
func (f *Forward) learnAutocrypt(ctx context.Context, m *mime.Message, data []byte) {
	if f.cfg.Autocrypt == nil || len(m.From) != 1 || !strings.Contains(m.From[0].Addr, "@") ||
		f.cfg.Policy.IsLocal(m.From[0].Addr) {
		return
	}
	froms, values, err := autocryptFields(data, f.cfg.MIMELimits.MaxHeaderBytes)
	if err != nil {
		f.log.Info("autocrypt: header not read", zap.Error(err))
		return
	}
	if froms != 1 {
		return
	}
	if err := f.cfg.Autocrypt.Learn(ctx, m.From[0].Addr, m.Date, values); err != nil {
		f.log.Warn("autocrypt: not learned", zap.String("from", f.cfg.HashAddr(m.From[0].Addr)), zap.Error(err))
	}
}

// autocryptFields reads the top-level header of data (at most max bytes,
// as mime.Parse allowed) and returns the number of From fields and the
// values of the Autocrypt fields.
func autocryptFields(data []byte, max int) (int, []string, error) {
	if max <= 0 {
		max = mime.DefaultMaxHeaderBytes
	}
	br := bufio.NewReader(io.LimitReader(bytes.NewReader(data), int64(max)+4))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return 0, nil, fmt.Errorf("read header: %w", err)
	}
	return len(h.Values("From")), h.Values("Autocrypt"), nil
}
