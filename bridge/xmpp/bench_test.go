package xmpp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

// BenchmarkSendAck measures acknowledged sends (message + ping round trip)
// through a real Prosody to an online user, one at a time and pipelined.
func BenchmarkSendAck(b *testing.B) {
	srv := prosodytest.Start(b, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	receiver(ctx, b, srv, "alice")
	c := startComponent(b, srv, nil, zap.NewAtomicLevelAt(zap.WarnLevel))
	alice := jid.MustParse(srv.JID("alice"))
	send := func(b *testing.B) {
		msg := xmpp.Message{To: alice, Type: stanza.ChatMessage, Payload: body("benchmark message body")}
		if err := c.Send(ctx, msg); err != nil {
			b.Error(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			send(b)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		var n atomic.Int64
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				send(b)
				n.Add(1)
			}
		})
		b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "msgs/s")
	})
}
