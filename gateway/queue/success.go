package queue

import "context"

// Success notices (RFC 3461 §4.1 NOTIFY=SUCCESS, RFC 3464 Action
// delivered or relayed): one per pass about the recipients delivered in
// it that asked for one, unless the next hop took the request with the
// message (Delivery.PassedOn). As with delay notices, the mark is
// persisted before the notice is spooled: a crash in between loses a
// notice, never repeats one.

const (
	actionDelivered dsnAction = "delivered"
	actionRelayed   dsnAction = "relayed"
	successReported           = "reported"
)

// successAction is what a success notice says about a recipient on route.
func (q *Queue) successAction(route string) dsnAction {
	if r, ok := q.cfg.Targets[route].(Relayer); ok && r.Relays() {
		return actionRelayed
	}
	return actionDelivered
}

func (q *Queue) notifySuccess(ctx context.Context, e *Envelope) error {
	byAction := map[dsnAction][]int{}
	for i := range e.Recipients {
		if r := &e.Recipients[i]; r.State == StateDelivered && (r.Success == string(actionDelivered) || r.Success == string(actionRelayed)) {
			byAction[dsnAction(r.Success)] = append(byAction[dsnAction(r.Success)], i)
			r.Success = successReported
		}
	}
	if len(byAction) == 0 {
		return nil
	}
	if err := q.persist(ctx, e); err != nil {
		return err
	}
	if e.From == "" || e.IsDSN {
		return nil // RFC 3461 §6.2: never to <>, never about a DSN
	}
	for _, action := range []dsnAction{actionDelivered, actionRelayed} {
		idx := byAction[action]
		if len(idx) == 0 {
			continue
		}
		if err := q.spoolDSN(ctx, e, idx, action); err != nil {
			// Owed again; the error makes the pass wait RetryInitial.
			for _, i := range idx {
				e.Recipients[i].Success = string(action)
			}
			_ = q.persist(ctx, e)
			return err
		}
		delete(byAction, action)
	}
	return nil
}
