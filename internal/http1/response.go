package http1

import (
	"bufio"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the http.ResponseWriter of the lean path. Body bytes are
// held back (up to bufSize) until the handler flushes or returns, so a
// short answer goes out in one write with a Content-Length; a longer or
// flushed one is chunked, and flushed data reaches the socket at once.
type response struct {
	c           *conn
	req         *http.Request
	body        *body // the request body, when it has one
	header      http.Header
	status      int
	wroteHeader bool
	committed   bool // the head is written
	chunked     bool
	head        bool  // a HEAD request: no body goes out
	cl          int64 // the declared Content-Length, or -1
	written     int64
	closeAfter  bool
	done        bool
	deadlines   bool          // the handler set a read or write deadline
	buf         []byte        // body held back before the head is written
	held        *[]byte       // buf's array, lent from held while buf is in use
	bw          *bufio.Writer // lent from writers while the answer is being written
}

var errHandlerDone = errors.New("http: response used after the handler returned")

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.done || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("http: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational answers go out at once; the final one follows.
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	if v := w.header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.done {
		return 0, errHandlerDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.head {
		return len(p), nil
	}
	if !w.committed {
		if len(w.buf)+len(p) <= bufSize {
			holdBack(w, p)
			return len(p), nil
		}
		w.sniff(p)
		if err := w.commit(false); err != nil {
			return 0, err
		}
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *response) WriteString(s string) (int, error) {
	// The common small case stays copy-once; the rest goes through Write.
	if !w.committed && !w.done && w.wroteHeader && bodyAllowed(w.status) && !w.head &&
		w.cl < 0 && len(w.buf)+len(s) <= bufSize && len(s) > 0 {
		holdBack(w, s)
		w.written += int64(len(s))
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// holdBack appends to the body held back before the head is written, in a
// buffer of bufSize lent from the server's pool.
func holdBack[T string | []byte](w *response, p T) {
	if w.held == nil {
		w.held = w.c.srv.held.Get().(*[]byte)
		w.buf = (*w.held)[:0]
	}
	w.buf = append(w.buf, p...) // never past bufSize: the callers check
}

// putHeld gives the held-back body's buffer back; buf is done with.
func (w *response) putHeld() {
	w.buf = nil
	if w.held != nil {
		w.c.srv.held.Put(w.held)
		w.held = nil
	}
}

// Flush sends the head and everything written so far.
func (w *response) Flush() { w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *response) FlushError() error {
	if w.done {
		return errHandlerDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if err := w.commit(false); err != nil {
			return err
		}
	}
	return w.flushWriter()
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
// Either one is undone when the request ends.
func (w *response) SetReadDeadline(t time.Time) error {
	w.deadlines = true
	return w.c.rwc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.deadlines = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex: HTTP/1.1 here can always read the body while writing.
func (w *response) EnableFullDuplex() error { return nil }

func (w *response) writer() *bufio.Writer {
	if w.bw == nil {
		w.bw = w.c.srv.writers.Get().(*bufio.Writer)
		w.bw.Reset(w.c.rwc)
	}
	return w.bw
}

// sniffLen is how much of a body http.DetectContentType looks at.
const sniffLen = 512

// sniff sets the Content-Type the handler left out from the body's first
// bytes, before a write too big to hold back sends the head: commit alone
// would see only what was held back, possibly nothing.
func (w *response) sniff(p []byte) {
	if _, ok := w.header["Content-Type"]; ok || w.head || !bodyAllowed(w.status) {
		return
	}
	data := w.buf
	if len(data) < sniffLen {
		data = append(data[:len(data):len(data)], p[:min(len(p), sniffLen-len(data))]...)
	}
	w.header.Set("Content-Type", http.DetectContentType(data))
}

// flushWriter sends what is buffered and gives the buffer back, so a
// stream that waits between events holds none.
func (w *response) flushWriter() error {
	if w.bw == nil {
		return nil
	}
	err := w.bw.Flush()
	if err != nil {
		w.closeAfter = true
	}
	w.putWriter()
	return err
}

// putWriter returns the write buffer to the pool, whatever it holds.
func (w *response) putWriter() {
	if w.bw != nil {
		w.bw.Reset(nil)
		w.c.srv.writers.Put(w.bw)
		w.bw = nil
	}
}

// commit writes the head. final means the handler has returned, so the
// body held back is the whole body and its length is known.
func (w *response) commit(final bool) error {
	w.committed = true
	h := w.header
	trailers := false
	if _, ok := h["Trailer"]; ok {
		trailers = true
	} else if final {
		// Trailers set with http.TrailerPrefix need a chunked body too
		// (net/http looks for them when it writes the head).
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				trailers = true
				break
			}
		}
	}
	allowed := bodyAllowed(w.status)
	switch {
	case !allowed:
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
	case w.cl >= 0:
		h.Del("Transfer-Encoding")
	case final && !trailers && !(w.head && w.written == 0):
		w.cl = w.written
		h.Del("Transfer-Encoding")
	case w.head:
		h.Del("Transfer-Encoding")
	default:
		w.chunked = true
	}
	if allowed && w.written > 0 && !w.head {
		if _, ok := h["Content-Type"]; !ok {
			h.Set("Content-Type", http.DetectContentType(w.buf))
		}
	}
	if v, ok := h["Connection"]; ok {
		// Tokens, as parse reads the client's (and net/http a handler's).
		if httpguts.HeaderValuesContainsToken(v, "close") {
			w.closeAfter = true
		}
		delete(h, "Connection")
	}
	if w.req.Close || w.c.srv.closing.Load() || w.body != nil && w.body.unread() > maxDiscard {
		w.closeAfter = true
	}

	bw := w.writer()
	bw.WriteString(statusLine(w.status))
	declared := trailerNames(h) // split once, not once per header
	for k, vs := range h {
		if k == "Content-Length" || k == "Transfer-Encoding" || k == "Date" ||
			strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(declared, k) ||
			!httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	bw.WriteString("Date: ")
	bw.Write(w.c.srv.httpDate())
	bw.WriteString("\r\n")
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	} else if w.cl >= 0 && (allowed || w.status == http.StatusNotModified) && !(w.head && w.cl == 0 && w.written == 0) {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.cl, 10))
		bw.WriteString("\r\n")
	}
	if w.closeAfter {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	// From here on the body goes straight to the writer.
	var err error
	if len(w.buf) > 0 {
		err = w.writeBody(w.buf)
	}
	w.putHeld()
	return err
}

func (w *response) writeBody(p []byte) error {
	bw := w.writer()
	if w.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// finish completes the answer after the handler returned and reports
// whether the connection is still fit for another request.
func (w *response) finish() bool {
	if w.done {
		return false
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var err error
	if !w.committed {
		err = w.commit(true)
	}
	if err == nil && w.chunked {
		bw := w.writer()
		bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		_, err = bw.WriteString("\r\n")
	}
	if w.cl >= 0 && w.written < w.cl && !w.head && bodyAllowed(w.status) {
		w.closeAfter = true // the client waits for bytes that never come
	}
	if ferr := w.flushWriter(); err == nil {
		err = ferr
	}
	w.done = true
	w.putHeld()
	return err == nil && !w.closeAfter
}

// release gives back the buffers after a panic.
func (w *response) release() {
	w.done = true
	w.putWriter()
	w.putHeld()
}

func (w *response) writeTrailers(bw *bufio.Writer) {
	for _, k := range trailerNames(w.header) {
		if !httpguts.ValidTrailerHeader(k) {
			continue
		}
		for _, v := range w.header[k] {
			writeField(bw, k, v)
		}
	}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(name) {
			for _, v := range vs {
				writeField(bw, name, v)
			}
		}
	}
}

func (w *response) writeInformational(code int) {
	bw := w.writer()
	bw.WriteString(statusLine(code))
	for k, vs := range w.header {
		// As net/http: no framing fields, there is no body to frame.
		if k != "Content-Length" && k != "Transfer-Encoding" && httpguts.ValidHeaderFieldName(k) {
			for _, v := range vs {
				writeField(bw, k, v)
			}
		}
	}
	bw.WriteString("\r\n")
	w.flushWriter()
}

// writeField writes one header line; a CR or LF in a value becomes a space
// (as in net/http) so no value can start a header of its own.
func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// trailerNames are the canonical names the Trailer header declares.
func trailerNames(h http.Header) []string {
	var names []string
	for _, d := range h["Trailer"] {
		for _, name := range strings.Split(d, ",") {
			names = append(names, http.CanonicalHeaderKey(strings.TrimSpace(name)))
		}
	}
	return names
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

// statusLines are the common status lines, built once.
var statusLines = func() map[int]string {
	m := map[int]string{}
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	return m
}()

func statusLine(code int) string {
	if s, ok := statusLines[code]; ok {
		return s
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n"
}

// dateStamp is the Date header value for one second.
type dateStamp struct {
	sec int64
	b   []byte
}

// httpDate is the Date header value, formatted once a second.
func (s *Server) httpDate() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.sec == sec {
		return d.b
	}
	d := &dateStamp{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	s.date.Store(d)
	return d.b
}
