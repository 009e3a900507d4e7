package main

import (
	"context"
	"errors"
	"io"
)

func serve(ctx context.Context, path string, stderr io.Writer) error {
	_, err := LoadConfig(path)
	if err != nil {
		return err
	}
	return errors.New("serve: not wired yet")
}
