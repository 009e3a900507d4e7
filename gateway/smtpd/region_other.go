//go:build !unix

package smtpd

import "errors"

// mapRegion is not available here: large DATA is read in heap chunks.
func mapRegion(int) ([]byte, error) { return nil, errors.New("smtpd: no anonymous mappings") }

func freeRegion([]byte) error { return nil }
