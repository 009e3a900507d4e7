// Package ejabberdtest is the second test ground for Passerelle's
// end-to-end tests: it runs a private ejabberd 23.01 (Debian's package) on
// loopback, configured from the operator's own file,
// deploy/ejabberd/ejabberd.yml, so the tests prove that file works.
//
// Start parses that file and changes only what a test instance must: the
// hosts, the certificate (a self-signed P-256 one from internal/xmpptest
// naming the host, the component and upload.<host>), the c2s (RFC 6120),
// component (XEP-0114, ejabberd_service) and HTTP (XEP-0363,
// mod_http_upload) listeners moved to free ports on 127.0.0.1, the
// component password, the upload directory and URL, the log level. It
// drops the s2s listener and adds mod_http_api on the HTTP listener,
// allowed from loopback to run `register` only. A file that lost a piece
// the gateway needs (the component listener, the upload handler,
// mod_pubsub, mod_offline, ...) is an error, not a weaker test.
//
// The server is `erl -noinput -s ejabberd` run directly as root in its own
// process group, with EJABBERD_CONFIG_PATH, EJABBERD_LOG_PATH and a mnesia
// directory under t.TempDir(). It starts no Erlang distribution (no
// -sname; the node is nonode@nohost): no epmd, no distribution port, no
// cookie, so nothing outside the test can reach the VM and no two
// instances clash. ejabberdctl is not used: as root it switches to the
// ejabberd user and talks to the node over distribution; accounts are
// registered over mod_http_api instead. Readiness is the three ports
// accepting; Stop signals the process group (SIGTERM, SIGKILL after 15 s)
// and waits; StartAgain reuses the ports and the mnesia data. At the end
// of the test the group is killed outright: its data is thrown away.
//
// PEP (XEP-0163) serves XEP-0373 keys from nodes the deploy file forces
// open (force_node_config on urn:xmpp:openpgp:0:public-keys*).
//
// A missing ejabberd is a test failure naming scripts/deps-ejabberd.sh,
// never a silent skip; under -short the server-starting tests skip.
package ejabberdtest
