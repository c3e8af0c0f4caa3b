package main

import (
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// logFlags are --log-level and --log-json.
type logFlags struct {
	level string
	json  bool
}

func (o *logFlags) flags(f *pflag.FlagSet) {
	f.StringVar(&o.level, "log-level", "info", "debug, info, warn or error (info: connections, relay slots, addresses)")
	f.BoolVar(&o.json, "log-json", false, "structured logs as JSON")
}

func (o *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", o.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if o.json {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h), nil
}
