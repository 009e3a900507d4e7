// Package e2e holds Passerelle's black-box tests: they build the passerelle
// binary, write a configuration, run it against real peers (Prosody, Postfix's
// smtp-source, swaks, GnuPG) on loopback and watch what comes out, the way
// maddy's tests/ directory does. It has no non-test code.
package e2e
