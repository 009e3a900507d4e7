package main

import (
	"slices"
	"testing"
)

func TestRestartKeys(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"reloadable only", func(c *Config) {
			c.Directory = map[string]string{"a@example.org": "b@example.org"}
			c.Log.Level = "debug"
			c.SMTP.Submission.Users = nil
		}, nil},
		{"listener and spool", func(c *Config) {
			c.SMTP.MX.Listen = "127.0.0.1:2526"
			c.Spool.Workers++
		}, []string{"smtp (listeners and limits)", "spool"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, err := LoadConfig(writeConfig(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			cur := *old
			tc.edit(&cur)
			if got := restartKeys(old, &cur); !slices.Equal(got, tc.want) {
				t.Errorf("restartKeys = %q, want %q", got, tc.want)
			}
		})
	}
}
