// Package logging builds gpfed's slog loggers: JSON in production, text for
// people at a terminal, snake_case keys, and a component on every line.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "text").
func New(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(oneComponent{h: slog.NewTextHandler(w, opts)})
	}
	return slog.New(oneComponent{h: slog.NewJSONHandler(w, opts)})
}

// oneComponent keeps a single component key per line: once a logger has
// one (logger.With("component", ...)), a component given again, by a
// later With or at the call site, is dropped. A JSON object with a key
// twice is ambiguous to every log pipeline that reads it.
type oneComponent struct {
	h   slog.Handler
	has bool
}

func (o oneComponent) Enabled(ctx context.Context, l slog.Level) bool { return o.h.Enabled(ctx, l) }

func (o oneComponent) Handle(ctx context.Context, r slog.Record) error {
	seen := o.has
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			dup = dup || seen
			seen = true
		}
		return true
	})
	if !dup {
		return o.h.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	seen = o.has
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "component" {
			if seen {
				return true
			}
			seen = true
		}
		out.AddAttrs(a)
		return true
	})
	return o.h.Handle(ctx, out)
}

func (o oneComponent) WithAttrs(as []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(as))
	has := o.has
	for _, a := range as {
		if a.Key == "component" {
			if has {
				continue
			}
			has = true
		}
		kept = append(kept, a)
	}
	return oneComponent{h: o.h.WithAttrs(kept), has: has}
}

// WithGroup nests later attributes: a component inside a group is another key.
func (o oneComponent) WithGroup(name string) slog.Handler {
	return oneComponent{h: o.h.WithGroup(name), has: o.has}
}

// Component returns l tagged with the component name.
func Component(l *slog.Logger, name string) *slog.Logger {
	return l.With("component", name)
}

// Discard is a logger that writes nothing (tests that do not inspect logs).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
