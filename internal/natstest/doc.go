// Package natstest starts real nats-server processes with JetStream for
// tests: one server, or a cluster of three on loopback with free ports,
// each with its JetStream store under the test's temporary directory. A
// node can be killed with SIGKILL and started again on the same ports and
// store. It needs the nats-server binary (Debian's nats-server package,
// 2.9 or later); a test that cannot find it fails, it never skips.
package natstest
