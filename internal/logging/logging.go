// Package logging builds gpfed's slog loggers: JSON in production, text for
// people at a terminal, snake_case keys, and a component on every line.
package logging

import (
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
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Component returns l tagged with the component name.
func Component(l *slog.Logger, name string) *slog.Logger {
	return l.With("component", name)
}

// Discard is a logger that writes nothing (tests that do not inspect logs).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
