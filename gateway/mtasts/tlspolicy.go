package mtasts

import (
	"context"
	"strings"

	"passerelle/gateway/delivery"
)

// TLSPolicy is a [delivery.TLSPolicy]: a domain whose policy is in mode
// enforce gets TLSVerify and only the MX hosts the policy names; any
// other domain the zero Policy (opportunistic). It never fails.
func (c *Client) TLSPolicy(ctx context.Context, domain string) (delivery.Policy, error) {
	p := c.Lookup(ctx, strings.ToLower(strings.TrimSuffix(domain, ".")))
	if p == nil || p.Mode != ModeEnforce {
		return delivery.Policy{}, nil
	}
	return delivery.Policy{Level: delivery.TLSVerify, AllowMX: p.Match}, nil
}
