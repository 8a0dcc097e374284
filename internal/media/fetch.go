package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// fetcher downloads client-named URLs without becoming a door into the
// network it runs in: every connection is checked where it is dialled, so
// redirects and DNS answers that change between check and use are covered.
type fetcher struct {
	pol       addrPolicy
	transport *http.Transport
	cache     *lru[*entry]
	timeout   time.Duration
	redirects int
	// resolve is net.DefaultResolver.LookupNetIP; tests replace it.
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	now     func() time.Time
}

func newFetcher(p Policy, pol addrPolicy) *fetcher {
	f := &fetcher{
		pol:       pol,
		cache:     newLRU[*entry](p.CacheEntries, p.CacheBytes),
		timeout:   p.FetchTimeout,
		redirects: p.MaxRedirects,
		now:       time.Now,
	}
	f.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	f.transport = &http.Transport{
		// Never a proxy: the address check must see the real destination.
		Proxy:                  nil,
		DialContext:            f.dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return f
}

// control runs on every socket before it connects: the one place where the
// address is the one really dialled.
func (f *fetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{reason: "an address that cannot be checked"}
	}
	return f.pol.check(ap.Addr())
}

func (f *fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: f.control}
	if f.pol.hostAllowed(host) {
		d.Control = nil
	}
	ip, literal, bad := hostIP(host)
	if bad {
		return nil, &refusedError{reason: "a malformed IP address"}
	}
	ips := []netip.Addr{ip}
	if !literal {
		ips, err = f.resolve(ctx, host)
		if err != nil || len(ips) == 0 {
			// Said the same way as a private answer, so that the answer does
			// not tell which internal names exist.
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &refusedError{reason: unresolvable}
		}
	}
	var first error
	for i, ip := range ips {
		if i == 8 {
			break
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		var re *refusedError
		if errors.As(err, &re) && !literal {
			err = &refusedError{reason: unresolvable}
		}
		if first == nil || errors.As(err, &re) {
			first = err
		}
	}
	return nil, first
}

const unresolvable = "a host name that does not resolve to a public address"

// checkURL is the check before any connection: scheme, host, and hosts
// written as addresses. The dialler checks again whatever is really dialled.
func (f *fetcher) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &refusedError{reason: "a URL scheme other than http or https"}
	}
	host := u.Hostname()
	if host == "" {
		return &refusedError{reason: "a URL without a host"}
	}
	if f.pol.hostAllowed(host) {
		return nil
	}
	ip, literal, bad := hostIP(host)
	switch {
	case bad:
		return &refusedError{reason: "a malformed IP address"}
	case literal:
		return f.pol.check(ip)
	}
	return nil
}

// download is what a fetch yields (and the cache keeps).
type download struct {
	data  []byte
	ctype string // the Content-Type the server declared
	name  string // a file name from Content-Disposition or the URL path
}

// entry is a cached download with what is needed to revalidate it.
type entry struct {
	dl           download
	etag, lastMo string
	expires      time.Time
}

func (e *entry) size() int64 { return int64(len(e.dl.data)) + 256 }

// fetchError is a download failure that is not the address policy's doing.
type fetchError struct {
	reason   string
	status   int
	tooLarge bool // a size limit, not a failed download
}

func (e *fetchError) Error() string { return e.reason }

// cacheKey identifies a download: the URL, and the headers sent with it, so
// an image fetched with one client's credentials is never served to another.
func cacheKey(u string, h http.Header) string {
	if len(h) == 0 {
		return u
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := sha256.New()
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(s, "%s:%s\n", k, v)
		}
	}
	return u + "\x00" + hex.EncodeToString(s.Sum(nil))
}

// get downloads rawURL (or answers from the cache) with headers sent to
// that URL's host only, reading at most limit bytes.
func (f *fetcher) get(ctx context.Context, rawURL string, headers http.Header, limit int64) (download, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return download{}, &refusedError{reason: "a malformed URL"}
	}
	if err := f.checkURL(u); err != nil {
		return download{}, err
	}
	key := cacheKey(rawURL, headers)
	cached, ok := f.cache.get(key)
	if ok && f.now().Before(cached.expires) {
		if int64(len(cached.dl.data)) > limit {
			return download{}, tooLarge(limit)
		}
		return cached.dl, nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return download{}, &refusedError{reason: "a malformed URL"}
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "genrouter")
	}
	if ok {
		if cached.etag != "" {
			req.Header.Set("If-None-Match", cached.etag)
		}
		if cached.lastMo != "" {
			req.Header.Set("If-Modified-Since", cached.lastMo)
		}
	}
	origin := u.Host
	client := &http.Client{
		Transport: f.transport,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) > f.redirects {
				return &fetchError{reason: fmt.Sprintf("too many redirects (more than %d)", f.redirects)}
			}
			if err := f.checkURL(r.URL); err != nil {
				return err
			}
			// The client's headers are for the host it named, not for
			// wherever that host redirects.
			if r.URL.Host != origin {
				for k := range headers {
					r.Header.Del(k)
				}
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return download{}, transportError(ctx, err, f.timeout)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && ok:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		// A new entry rather than an update: others may be reading the old one.
		f.cache.put(key, &entry{dl: cached.dl, etag: cached.etag, lastMo: cached.lastMo, expires: f.expiry(resp.Header)})
		if int64(len(cached.dl.data)) > limit {
			return download{}, tooLarge(limit)
		}
		return cached.dl, nil
	case resp.StatusCode != http.StatusOK:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return download{}, &fetchError{status: resp.StatusCode,
			reason: fmt.Sprintf("the server answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	case resp.ContentLength > limit:
		return download{}, tooLarge(limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return download{}, transportError(ctx, err, f.timeout)
	}
	if int64(len(data)) > limit {
		return download{}, tooLarge(limit)
	}
	dl := download{data: data, ctype: resp.Header.Get("Content-Type"), name: fileName(resp)}
	if cc := resp.Header.Get("Cache-Control"); !hasDirective(cc, "no-store") {
		f.cache.put(key, &entry{dl: dl, etag: resp.Header.Get("ETag"), lastMo: resp.Header.Get("Last-Modified"),
			expires: f.expiry(resp.Header)})
	}
	return dl, nil
}

// defaultFresh is how long a response without freshness information stays
// fresh: long enough for a retry on another vendor and the next turn of a
// conversation that resends the same image.
const defaultFresh = 5 * time.Minute

// expiry applies Cache-Control (s-maxage, max-age, no-cache), Age and
// Expires, as a shared cache would.
func (f *fetcher) expiry(h http.Header) time.Time {
	now := f.now()
	cc := h.Get("Cache-Control")
	if hasDirective(cc, "no-cache") {
		return now // stored, but revalidated before every use
	}
	age, _ := strconv.Atoi(h.Get("Age"))
	for _, d := range []string{"s-maxage", "max-age"} {
		if v, ok := directive(cc, d); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return now
			}
			return now.Add(time.Duration(n-age) * time.Second)
		}
	}
	if e := h.Get("Expires"); e != "" {
		t, err := http.ParseTime(e)
		if err != nil {
			return now
		}
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			return now.Add(t.Sub(d))
		}
		return t
	}
	return now.Add(defaultFresh)
}

func hasDirective(cc, name string) bool {
	_, ok := directive(cc, name)
	return ok
}

func directive(cc, name string) (string, bool) {
	for _, d := range strings.Split(cc, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(k, name) {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

func tooLarge(limit int64) *fetchError {
	return &fetchError{tooLarge: true, reason: "it is larger than the limit of " + sizeString(limit)}
}

// transportError turns a client error into a reason fit for the client:
// never the raw error, which may name addresses.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	var re *refusedError
	var fe *fetchError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &fe):
		return fe
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &fetchError{reason: "the download timed out after " + timeout.String()}
	case ctx.Err() != nil:
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &fetchError{reason: "the download timed out after " + timeout.String()}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &fetchError{reason: "the host could not be reached"}
	}
	if strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "certificate") {
		return &fetchError{reason: "the TLS connection failed"}
	}
	return &fetchError{reason: "the download failed"}
}

// fileName is the name the server gives the file, or the URL path's last part.
func fileName(resp *http.Response) string {
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, p, err := mime.ParseMediaType(cd); err == nil && p["filename"] != "" {
			return path.Base(strings.ReplaceAll(p["filename"], "\\", "/"))
		}
	}
	if b := path.Base(resp.Request.URL.Path); b != "/" && b != "." {
		return b
	}
	return ""
}

// parseHeaders reads image_url.headers / audio_url.headers: an object of
// strings, checked the way a server would check them.
func parseHeaders(raw map[string]any) (http.Header, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > 32 {
		return nil, errors.New("too many headers (at most 32)")
	}
	h := make(http.Header, len(raw))
	total := 0
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("header %q is not a string", k)
		}
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(s) {
			return nil, fmt.Errorf("header %q is not a valid HTTP header", k)
		}
		switch http.CanonicalHeaderKey(k) {
		case "Accept-Encoding":
			// Left to the transport, which then decompresses within the limit.
			continue
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Keep-Alive", "Proxy-Connection":
			return nil, fmt.Errorf("header %q may not be set", k)
		}
		total += len(k) + len(s)
		h.Set(k, s)
	}
	if total > 16<<10 {
		return nil, errors.New("headers larger than 16 KiB")
	}
	return h, nil
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
