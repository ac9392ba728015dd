package render

import (
	"strings"
	"unicode/utf8"
)

// Width is the width every rendering fits in.
const Width = 80

// Style says how to decorate the output: icons and colour are for terminals only.
type Style struct {
	Icons bool
	Color bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiGray   = "\x1b[90m"
	ansiCyan   = "\x1b[36m"
	ansiBold   = "\x1b[1m"
)

// status describes a phase word: its icon and colour.
type status struct {
	icon, color string
}

var statuses = map[string]status{
	"Healthy":      {"✔", ansiGreen},
	"Successful":   {"✔", ansiGreen},
	"Running":      {"◌", ansiBlue},
	"Progressing":  {"◌", ansiYellow},
	"Pending":      {"◌", ansiGray},
	"Paused":       {"॥", ansiYellow},
	"Degraded":     {"✖", ansiRed},
	"Failed":       {"✖", ansiRed},
	"Error":        {"⚠", ansiRed},
	"Inconclusive": {"?", ansiYellow},
	"ScaledDown":   {"•", ansiGray},
	"Terminating":  {"◌", ansiGray},
	"Succeeded":    {"✔", ansiGreen},
	// GitSync sync status, health and per-object results.
	"Synced":        {"✔", ansiGreen},
	"OutOfSync":     {"≠", ansiYellow},
	"Unknown":       {"?", ansiGray},
	"Suspended":     {"॥", ansiYellow},
	"Missing":       {"?", ansiYellow},
	"SyncFailed":    {"✖", ansiRed},
	"Pruned":        {"•", ansiGray},
	"PruneSkipped":  {"•", ansiYellow},
	"HookRunning":   {"◌", ansiBlue},
	"HookSucceeded": {"✔", ansiGreen},
	"HookFailed":    {"✖", ansiRed},
}

// word renders a status word, with its icon when icons are on. It returns the text and its
// width in columns (the colour codes take none).
func (s Style) word(w string) (string, int) { return s.wordLike(w, w) }

// cell is word as a table cell; like names the word whose icon and colour it borrows ("" for
// its own).
func (s Style) cell(w, like string) cell {
	if like == "" {
		like = w
	}
	text, width := s.wordLike(w, like)
	return cell{text, width}
}

func (s Style) wordLike(w, like string) (string, int) {
	text := w
	st, known := statuses[like]
	if !known {
		st = status{"⚠", ansiRed}
	}
	if s.Icons {
		text = st.icon + " " + w
	}
	width := utf8.RuneCountInString(text)
	if s.Color {
		text = st.color + text + ansiReset
	}
	return text, width
}

// fit shortens s to at most n columns, keeping its end (where pod and ReplicaSet names differ)
// and marking the cut with "…".
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	keep := min(8, (n-1)/2)
	return string(r[:n-1-keep]) + "…" + string(r[len(r)-keep:])
}

// cut shortens free text to n columns, marking the cut with "…" at the end.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func pad(s string, width, n int) string {
	if width >= n {
		return s
	}
	return s + strings.Repeat(" ", n-width)
}
