package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// minSecretLen is the shortest component secret not warned about: XEP-0114
// authenticates the link with it alone (SHA-1 of stream id and secret).
const minSecretLen = 16

// tmpfsMagic is statfs(2)'s f_type of tmpfs (linux/magic.h TMPFS_MAGIC).
const tmpfsMagic = 0x01021994

// warnings lists what is valid but likely a mistake; check-config prints
// them and serve logs them at start. They never stop the gateway.
func (c *Config) warnings() []string {
	var ws []string
	if s, err := c.XMPP.ComponentSecret.Resolve(); err == nil && s != "" && len(s) < minSecretLen {
		ws = append(ws, fmt.Sprintf("xmpp.component_secret: %d characters; anyone who guesses it can act as the gateway towards the XMPP server: use %d or more random ones", len(s), minSecretLen*2))
	}
	if c.Policy.Encryption == "none" {
		ws = append(ws, `policy.encryption = "none": mail to every local user is delivered to XMPP unencrypted unless a narrower rule says otherwise`)
	}
	for _, d := range sortedKeys(c.Policy.Domains) {
		if c.Policy.Domains[d].Encryption == "none" {
			ws = append(ws, fmt.Sprintf(`policy.domains.%q.encryption = "none": mail to %s is delivered to XMPP unencrypted`, d, d))
		}
	}
	for _, a := range sortedKeys(c.Policy.Addresses) {
		if c.Policy.Addresses[a].Encryption == "none" {
			ws = append(ws, fmt.Sprintf(`policy.addresses.%q.encryption = "none": mail to that address is delivered to XMPP unencrypted`, a))
		}
	}
	if d := c.Delivery; d.DANE && d.Smarthost.Addr == "" {
		if addr, err := resolverAddr(d.DNSServer); err == nil && !loopbackAddr(addr) {
			ws = append(ws, fmt.Sprintf("delivery.dane: the resolver %s is not on loopback: the AD bit DANE believes can be forged between it and the gateway; run a validating resolver (unbound) on this host and set delivery.dns_server", addr))
		}
	}
	if c.Spool.Dir != "" && onTmpfs(c.Spool.Dir) {
		ws = append(ws, fmt.Sprintf("spool.dir %s is on tmpfs: accepted mail is lost at the next reboot or power cut, although every 250 promised it was stored", c.Spool.Dir))
	}
	return ws
}

// onTmpfs reports whether dir, or the nearest of its parents that exists,
// is on tmpfs.
func onTmpfs(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var st unix.Statfs_t
		err := unix.Statfs(d, &st)
		if err == nil {
			return st.Type == tmpfsMagic
		}
		if !os.IsNotExist(err) || d == filepath.Dir(d) {
			return false
		}
	}
}

// loopbackAddr reports whether host:port names a loopback address.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
