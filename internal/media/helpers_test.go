package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/genrouter/genrouter/internal/openai"
)

// allowLocal is what tests put in AllowHosts: the servers bind 127.0.0.1 only.
func allowLocal() []string { return []string{"127.0.0.1/32"} }

func pngBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func wavBytes() []byte {
	samples := make([]byte, 800)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(samples)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(samples)))
	b.Write(samples)
	return b.Bytes()
}

func dataURL(typ string, b []byte) string {
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(b)
}

// server serves files by path, counting requests per path.
type server struct {
	*httptest.Server
	hits  atomic.Int64
	files map[string]file
	last  atomic.Pointer[http.Header]
}

type file struct {
	body    []byte
	ctype   string
	status  int
	header  map[string]string
	delay   time.Duration
	needHdr [2]string // a header that must be present, or 401
}

func newServer(t testing.TB, files map[string]file) *server {
	s := &server{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h := r.Header.Clone()
		s.last.Store(&h)
		f, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if f.delay > 0 {
			select {
			case <-time.After(f.delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.needHdr[0] != "" && r.Header.Get(f.needHdr[0]) != f.needHdr[1] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		if et := f.header["ETag"]; et != "" && r.Header.Get("If-None-Match") == et {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if f.ctype != "" {
			w.Header().Set("Content-Type", f.ctype)
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
		}
		w.Write(f.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// chat is a request body around the given parts, with fields before and
// after messages that must survive byte for byte.
func chat(parts ...string) []byte {
	return []byte(`{"model":"m",  "temperature": 0.5,"messages":[{"role":"system","content":"be \u00e9 nice"},{"role":"user","content":[{"type":"text","text":"look"},` +
		strings.Join(parts, ",") + `]}],"user":"u-1" , "metadata":{"k":"v"}}`)
}

func imagePart(url string) string {
	return `{"type":"image_url","image_url":{"url":` + string(marshal(url)) + `,"detail":"low"}}`
}

func process(t testing.TB, p *Processor, body []byte, tg Target) ([]byte, *openai.Error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := p.Process(ctx, body, tg)
	if err != nil {
		var oe *openai.Error
		if !errors.As(err, &oe) {
			t.Fatalf("error is not an *openai.Error: %v", err)
		}
		return nil, oe
	}
	if !json.Valid(out) {
		t.Fatalf("output is not JSON: %s", out)
	}
	return out, nil
}

// part is messages[1].content[i] of an output body.
func part(out []byte, i int) gjson.Result {
	return gjson.GetBytes(out, "messages.1.content."+itoa(i))
}

func itoa(i int) string { return string(rune('0' + i)) }

// resolver maps names to addresses for tests, as DNS would.
func resolver(m map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "localhost" {
			// The system's own answer (from /etc/hosts), as in production.
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
		var out []netip.Addr
		for _, a := range m[strings.TrimSuffix(host, ".")] {
			out = append(out, netip.MustParseAddr(a))
		}
		if len(out) == 0 {
			return nil, errors.New("no such host")
		}
		return out, nil
	}
}

// inline is a vendor that needs images inline.
func inline() Target { return Target{InlineImages: "always"} }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
