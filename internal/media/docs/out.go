package docs

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// out collects Markdown up to max characters. Past that it only counts, so
// the cut can say how much was left out; extractors keep going (within the
// other limits) just to count.
type out struct {
	b    strings.Builder
	max  int
	n    int // characters kept
	over int // characters cut
	nl   int // trailing newlines in b, to space blocks without doubling
}

func (o *out) full() bool { return o.n >= o.max }

func (o *out) WriteString(s string) {
	if s == "" {
		return
	}
	if o.full() {
		o.over += utf8.RuneCountInString(s)
		return
	}
	room := o.max - o.n
	c := utf8.RuneCountInString(s)
	if c > room {
		i := 0
		for k := 0; k < room; k++ {
			_, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
		}
		o.over += c - room
		s, c = s[:i], room
	}
	o.b.WriteString(s)
	o.n += c
	t := len(s) - len(strings.TrimRight(s, "\n"))
	if t == len(s) {
		o.nl += t
	} else {
		o.nl = t
	}
}

// block starts a new Markdown block: exactly one blank line after what came before.
func (o *out) block() {
	if o.n == 0 || o.full() {
		return
	}
	for o.nl < 2 {
		o.WriteString("\n")
		if o.full() {
			return
		}
	}
}

// line ends the current line unless it is already ended.
func (o *out) line() {
	if o.n > 0 && o.nl == 0 {
		o.WriteString("\n")
	}
}

func (o *out) String() string {
	s := strings.TrimRight(o.b.String(), "\n")
	if o.over > 0 {
		s += "\n\n[… truncated: " + strconv.Itoa(o.over) + " more characters]"
	}
	return s
}

// table writes rows as a Markdown table, the first row as its header.
// Trailing empty columns and empty rows are dropped.
func (o *out) table(rows [][]string) {
	cols := 0
	kept := rows[:0:0]
	for _, r := range rows {
		n := len(r)
		for n > 0 && strings.TrimSpace(r[n-1]) == "" {
			n--
		}
		if n == 0 {
			continue
		}
		kept = append(kept, r[:n])
		cols = max(cols, n)
	}
	if cols == 0 {
		return
	}
	o.block()
	var b strings.Builder
	for i, r := range kept {
		b.Reset()
		b.WriteByte('|')
		for c := 0; c < cols; c++ {
			cell := ""
			if c < len(r) {
				cell = cellText(r[c])
			}
			b.WriteByte(' ')
			b.WriteString(cell)
			b.WriteString(" |")
		}
		b.WriteByte('\n')
		if i == 0 {
			b.WriteByte('|')
			for c := 0; c < cols; c++ {
				b.WriteString(" --- |")
			}
			b.WriteByte('\n')
		}
		o.WriteString(b.String())
	}
}

// cellText makes a value safe inside a table cell: one line, pipes escaped.
func cellText(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "|\n\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", "<br>")
}
