package vendors

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/genrouter/genrouter/internal/openai"
)

// MaxBody bounds a non-streaming upstream answer held in memory.
const MaxBody = 64 << 20

// ReadBody reads a whole upstream answer, at most MaxBody bytes, into one
// buffer sized from Content-Length when the vendor sent one.
func ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	var b []byte
	var err error
	if n := resp.ContentLength; n > 0 && n <= MaxBody {
		b = make([]byte, n)
		_, err = io.ReadFull(resp.Body, b)
	} else {
		b, err = io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	}
	if err != nil {
		return nil, openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_read_failed",
			"", "the vendor's response broke off: "+err.Error())
	}
	if len(b) > MaxBody {
		return nil, openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_too_large",
			"", "the vendor's response is larger than the gateway accepts")
	}
	return b, nil
}

// TransportError reports a failed round trip. When the client has gone the
// context error is returned unchanged, so callers can tell it apart.
func TransportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return openai.NewError(http.StatusGatewayTimeout, openai.TypeServer, "upstream_timeout",
			"", "the vendor did not answer in time")
	}
	// The url.Error names the base URL, which is configuration, never a key.
	return openai.NewError(http.StatusBadGateway, openai.TypeServer, "upstream_unreachable",
		"", "could not reach the vendor: "+err.Error())
}

// Send sends a prepared request and returns a 2xx response, or the
// vendor's refusal through asError (the adapter's own normaliser, which
// scrubs the key), or a transport failure. The caller closes the body.
//
// The request goes straight to the client's transport: redirects are not
// followed (a vendor API that redirects a POST is misconfigured, and
// following it would drop the body or carry the key elsewhere), so a 3xx
// is reported like any refusal. That also skips http.Client's per-request
// header copy kept for redirects.
func Send(ctx context.Context, c *http.Client, req *http.Request, asError func(status int, h http.Header, body []byte) error) (*http.Response, error) {
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, TransportError(ctx, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, asError(resp.StatusCode, resp.Header, b)
	}
	return resp, nil
}

// Probe sends a prepared health-check request and reports whether the
// vendor accepted the key.
func Probe(ctx context.Context, c *http.Client, req *http.Request, asError func(status int, h http.Header, body []byte) error) error {
	resp, err := Send(ctx, c, req, asError)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	return resp.Body.Close()
}

// maskedKey matches a key a vendor echoes in masked form, such as OpenAI's
// "sk-proj-****…1234": a token with a run of asterisks or an ellipsis in it.
var maskedKey = regexp.MustCompile(`[A-Za-z0-9_-]*(?:\*{3,}|…|\.\.\.)[A-Za-z0-9_*-]*[A-Za-z0-9_*]`)

// ScrubKey removes the credential from a vendor's message: the key itself,
// and any masked form of a key (its prefix and last characters still say
// which key it is). Clients of the gateway never see its keys, whole or in
// part.
func ScrubKey(msg, key string) string {
	// Short strings (test keys, "none") would mangle ordinary words.
	if len(key) >= 8 && strings.Contains(msg, key) {
		msg = strings.ReplaceAll(msg, key, "[credential]")
	}
	if strings.Contains(msg, "***") || strings.Contains(msg, "…") || strings.Contains(msg, "...") {
		msg = maskedKey.ReplaceAllStringFunc(msg, func(m string) string {
			// Only a token that looks like a key: an ellipsis between
			// ordinary words ("wait... what") is left alone.
			if strings.Contains(m, "***") || strings.HasPrefix(m, "sk-") || strings.HasPrefix(m, "AIza") {
				return "[credential]"
			}
			return m
		})
	}
	return msg
}
