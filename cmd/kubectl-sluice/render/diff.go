package render

import (
	"io"
	"strings"
)

// Diff writes a unified diff as `diff sync` prints it: with colour, the file headers bold, the hunk
// headers cyan, removed lines red and added lines green. Lines are never cut: a diff is read and
// copied as it is.
func Diff(w io.Writer, text string, style Style) error {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		color := ""
		if style.Color {
			switch {
			case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
				color = ansiBold
			case strings.HasPrefix(l, "@@"):
				color = ansiCyan
			case strings.HasPrefix(l, "-"):
				color = ansiRed
			case strings.HasPrefix(l, "+"):
				color = ansiGreen
			}
		}
		if color == "" {
			b.WriteString(l)
			continue
		}
		body, nl := strings.CutSuffix(l, "\n")
		b.WriteString(color + body + ansiReset)
		if nl {
			b.WriteByte('\n')
		}
	}
	if !strings.HasSuffix(text, "\n") && text != "" {
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
