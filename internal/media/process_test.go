package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/media/docs/docstest"
	"github.com/genrouter/genrouter/internal/openai"
)

func TestImageInlined(t *testing.T) {
	png, jpg := pngBytes(t), jpegBytes(t)
	srv := newServer(t, map[string]file{
		"/a.png":   {body: png, ctype: "image/png"},
		"/liar":    {body: jpg, ctype: "image/png"}, // declared png, really jpeg
		"/bmp":     {body: append([]byte("BM"), make([]byte, 40)...), ctype: "image/bmp"},
		"/page":    {body: []byte("<!DOCTYPE html><html>hi</html>"), ctype: "text/html"},
		"/heic":    {body: append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 20)...), ctype: "image/heic"},
		"/missing": {status: 404},
	})
	p := New(Policy{AllowHosts: allowLocal()})
	body := chat(imagePart(srv.URL+"/a.png"), imagePart(srv.URL+"/liar"))
	out, oe := process(t, p, body, inline())
	if oe != nil {
		t.Fatal(oe.Message)
	}
	if got := part(out, 1).Get("image_url.url").String(); got != dataURL("image/png", png) {
		t.Errorf("png: %.50q", got)
	}
	if got := part(out, 1).Get("image_url.detail").String(); got != "low" {
		t.Errorf("detail lost: %q", got)
	}
	if got := part(out, 2).Get("image_url.url").String(); got != dataURL("image/jpeg", jpg) {
		t.Errorf("declared type not corrected: %.50q", got)
	}
	// Everything around the parts is the client's bytes.
	i := bytes.Index(body, []byte(`{"type":"image_url"`))
	if !bytes.HasPrefix(out, body[:i]) || !bytes.HasSuffix(out, []byte(`]}],"user":"u-1" , "metadata":{"k":"v"}}`)) {
		t.Errorf("bytes around the parts changed:\n%s", out)
	}

	for _, c := range []struct{ path, code, msg string }{
		{"/bmp", codeImageType, "the image is BMP; only PNG, JPEG, GIF and WebP"},
		{"/page", codeImageType, "HTML (a web page, not an image)"},
		{"/heic", codeImageType, "HEIC/HEIF, which the model's vendor does not take"},
		{"/missing", codeDownload, "the image could not be downloaded (the server answered 404 Not Found)"},
	} {
		_, oe := process(t, p, chat(imagePart(srv.URL+c.path)), inline())
		if oe == nil || oe.Status != 400 || *oe.Code != c.code || !strings.Contains(oe.Message, c.msg) || *oe.Param != "messages[1].content[1]" {
			t.Errorf("%s: got %+v", c.path, oe)
		}
	}
	out, oe = process(t, p, chat(imagePart(srv.URL+"/heic")), Target{InlineImages: "always", HEIC: true})
	if oe != nil || !strings.HasPrefix(part(out, 1).Get("image_url.url").String(), "data:image/heic;base64,") {
		t.Errorf("heic for a HEIC vendor: %v %s", oe, out)
	}
}

func TestDataURLImages(t *testing.T) {
	png, jpg := pngBytes(t), jpegBytes(t)
	p := New(Policy{MaxImageBytes: 1 << 10})
	body := chat(imagePart(dataURL("image/png", png)))
	out, oe := process(t, p, body, Target{})
	if oe != nil || !bytes.Equal(out, body) {
		t.Errorf("a correct data URL must pass untouched: %v", oe)
	}
	out, oe = process(t, p, chat(imagePart(dataURL("image/png", jpg))), Target{})
	if oe != nil || part(out, 1).Get("image_url.url").String() != dataURL("image/jpeg", jpg) {
		t.Errorf("declared type not corrected: %v %.80s", oe, out)
	}
	// URL-safe base64 is normalised.
	urlsafe := "data:image/jpeg;base64," + base64.RawURLEncoding.EncodeToString(jpg)
	out, oe = process(t, p, chat(imagePart(urlsafe)), Target{})
	if oe != nil || part(out, 1).Get("image_url.url").String() != dataURL("image/jpeg", jpg) {
		t.Errorf("url-safe base64: %v", oe)
	}
	// Base64 with line breaks is decoded whole, and counted once against
	// the request's total.
	b64 := base64.StdEncoding.EncodeToString(png)
	wrapped := "data:image/png;base64," + b64[:8] + "\n" + b64[8:]
	tight := New(Policy{MaxImageBytes: 1 << 10, MaxTotalBytes: int64(len(png)) + 8})
	out, oe = process(t, tight, chat(imagePart(wrapped)), Target{})
	if oe != nil || part(out, 1).Get("image_url.url").String() != dataURL("image/png", png) {
		t.Errorf("wrapped base64: %v", oe)
	}
	for name, c := range map[string]struct{ url, code string }{
		"too large":   {dataURL("image/png", append(png, make([]byte, 2<<10)...)), codeTooLarge},
		"unsupported": {dataURL("image/png", []byte("<svg xmlns='http://www.w3.org/2000/svg'></svg>")), codeImageType},
		"garbage":     {"data:image/png;base64,!!!!", codeInvalidImage},
		"javascript":  {"javascript:alert(1)", codeRefused},
	} {
		if _, oe := process(t, p, chat(imagePart(c.url)), Target{}); oe == nil || *oe.Code != c.code {
			t.Errorf("%s: got %+v", name, oe)
		}
	}
}

func TestHeaders(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{"/private.png": {body: png, needHdr: [2]string{"Authorization", "Bearer secret-token"}}})
	p := New(Policy{AllowHosts: allowLocal()})
	withHeaders := `{"type":"image_url","image_url":{"url":"` + srv.URL + `/private.png","headers":{"Authorization":"Bearer secret-token","X-Trace":"t1"}}}`
	for _, tg := range []Target{inline(), {CanFetchURLs: true}} { // auto inlines when headers are needed
		out, oe := process(t, p, chat(withHeaders), tg)
		if oe != nil {
			t.Fatal(oe.Message)
		}
		h := *srv.last.Load()
		if h.Get("Authorization") != "Bearer secret-token" || h.Get("X-Trace") != "t1" {
			t.Errorf("headers did not reach the server: %v", h)
		}
		if bytes.Contains(out, []byte("secret-token")) || bytes.Contains(out, []byte("headers")) || bytes.Contains(out, []byte("X-Trace")) {
			t.Errorf("headers forwarded upstream: %s", out)
		}
		if part(out, 1).Get("image_url.url").String() != dataURL("image/png", png) {
			t.Errorf("not inlined")
		}
	}
	// A vendor that must get URLs: the URL goes on, the headers do not.
	out, oe := process(t, p, chat(withHeaders), Target{InlineImages: "never"})
	if oe != nil || bytes.Contains(out, []byte("secret-token")) || part(out, 1).Get("image_url.url").String() != srv.URL+"/private.png" {
		t.Errorf("never: %v %s", oe, out)
	}
	// Without headers a URL-fetching vendor gets the body untouched.
	body := chat(imagePart(srv.URL + "/private.png"))
	if out, oe := process(t, p, body, Target{CanFetchURLs: true}); oe != nil || !bytes.Equal(out, body) {
		t.Errorf("auto with a fetching vendor changed the body: %v", oe)
	}
	// Headers stay with their host: a redirect elsewhere drops them.
	other := newServer(t, map[string]file{"/img": {body: png}})
	srv.files["/hop"] = file{status: http.StatusFound, header: map[string]string{"Location": strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/img"}}
	hop := `{"type":"image_url","image_url":{"url":"` + srv.URL + `/hop","headers":{"Authorization":"Bearer secret-token"}}}`
	if _, oe := process(t, New(Policy{AllowHosts: []string{"127.0.0.1/32", "localhost"}}), chat(hop), inline()); oe != nil {
		t.Fatal(oe.Message)
	}
	if h := *other.last.Load(); h.Get("Authorization") != "" {
		t.Errorf("headers followed a redirect to another host")
	}
	bad := `{"type":"image_url","image_url":{"url":"` + srv.URL + `/private.png","headers":{"Host":"evil"}}}`
	if _, oe := process(t, p, chat(bad), inline()); oe == nil || *oe.Code != codeInvalidPart {
		t.Errorf("Host header accepted: %v", oe)
	}
}

func TestCache(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{
		"/a.png":      {body: png},
		"/nostore":    {body: png, header: map[string]string{"Cache-Control": "no-store"}},
		"/etag":       {body: png, header: map[string]string{"Cache-Control": "max-age=0", "ETag": `"v1"`}},
		"/short":      {body: png, header: map[string]string{"Cache-Control": "max-age=60"}},
		"/same-twice": {body: png},
	})
	p := New(Policy{AllowHosts: allowLocal()})
	now := time.Now()
	p.fetch.now = func() time.Time { return now }
	fetch := func(path string) {
		t.Helper()
		if _, oe := process(t, p, chat(imagePart(srv.URL+path)), inline()); oe != nil {
			t.Fatal(oe.Message)
		}
	}
	hits := func() int64 { return srv.hits.Load() }

	fetch("/a.png")
	fetch("/a.png") // a retry on another vendor
	if hits() != 1 {
		t.Errorf("cached image fetched %d times", hits())
	}
	fetch("/nostore")
	fetch("/nostore")
	if hits() != 3 {
		t.Errorf("no-store: %d hits", hits())
	}
	fetch("/etag")
	fetch("/etag")
	if hits() != 5 || (*srv.last.Load()).Get("If-None-Match") != `"v1"` {
		t.Errorf("etag revalidation: %d hits, %v", hits(), *srv.last.Load())
	}
	fetch("/short")
	now = now.Add(30 * time.Second)
	fetch("/short")
	now = now.Add(31 * time.Second)
	fetch("/short")
	if hits() != 7 {
		t.Errorf("max-age=60: %d hits", hits())
	}
	// One request naming the same URL twice downloads it once.
	before := hits()
	p2 := New(Policy{AllowHosts: allowLocal()})
	if _, oe := process(t, p2, chat(imagePart(srv.URL+"/same-twice"), imagePart(srv.URL+"/same-twice")), inline()); oe != nil {
		t.Fatal(oe.Message)
	}
	if hits()-before != 1 {
		t.Errorf("same URL twice: %d downloads", hits()-before)
	}
	// Different headers are a different download: one client's credentials
	// never serve another's request.
	h := `{"type":"image_url","image_url":{"url":"` + srv.URL + `/a.png","headers":{"Authorization":"x"}}}`
	before = hits()
	fetch("/a.png")
	if _, oe := process(t, p, chat(h), inline()); oe != nil || hits()-before != 1 {
		t.Errorf("headers shared a cache entry: %v", oe)
	}
}

func TestOnError(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{
		"/ok.png": {body: png},
		"/slow":   {body: png, delay: 2 * time.Second},
		"/big":    {body: make([]byte, 4<<10)},
		"/denied": {status: 403},
		"/loop":   {status: http.StatusFound, header: map[string]string{"Location": "/loop"}},
		"/broken": {body: []byte("%PDF-1.4\n1 0 obj garbage\n%%EOF\n")},
	})
	pol := Policy{AllowHosts: allowLocal(), FetchTimeout: 300 * time.Millisecond, MaxImageBytes: 2 << 10}
	body := chat(imagePart(srv.URL+"/missing.png"), imagePart(srv.URL+"/ok.png"))

	_, oe := process(t, New(pol), body, inline())
	if oe == nil || oe.Status != 400 || *oe.Param != "messages[1].content[1]" ||
		oe.Message != "messages[1].content[1]: the image could not be downloaded (the server answered 404 Not Found)" {
		t.Fatalf("fail: %+v", oe)
	}

	pol.OnError = OnErrorExplain
	p := New(pol)
	out, oe := process(t, p, body, inline())
	if oe != nil {
		t.Fatal(oe.Message)
	}
	note := part(out, 1)
	if note.Get("type").String() != "text" || note.Get("text").String() !=
		"[Note from the gateway: the image could not be downloaded (the server answered 404 Not Found) (messages[1].content[1]), so it is not included.]" {
		t.Errorf("note: %s", note.Raw)
	}
	if part(out, 2).Get("image_url.url").String() != dataURL("image/png", png) {
		t.Errorf("the other image was not used")
	}
	for path, want := range map[string]string{
		"/slow":   "timed out after 300ms",
		"/big":    "too large (it is larger than the limit of 2 KiB)",
		"/denied": "403 Forbidden",
		"/loop":   "too many redirects (more than 3)",
	} {
		start := time.Now()
		out, oe := process(t, p, chat(imagePart(srv.URL+path)), inline())
		if oe != nil || !strings.Contains(part(out, 1).Get("text").String(), want) {
			t.Errorf("%s: %v %s", path, oe, out)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("%s took %v", path, time.Since(start))
		}
	}
	doc := `{"type":"file_url","file_url":{"url":"` + srv.URL + `/broken"}}`
	out, oe = process(t, p, chat(doc), Target{})
	if oe != nil || !strings.Contains(part(out, 1).Get("text").String(), `the file "broken" could not be read: the PDF is corrupt`) {
		t.Errorf("unreadable document: %v %s", oe, out)
	}
}

func TestLimits(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{"/a": {body: png}, "/b": {body: png}, "/c": {body: png}})
	p := New(Policy{AllowHosts: allowLocal(), MaxImages: 2})
	_, oe := process(t, p, chat(imagePart(srv.URL+"/a"), imagePart(srv.URL+"/b"), imagePart(srv.URL+"/c")), inline())
	if oe == nil || *oe.Code != codeTooMany || *oe.Param != "messages" {
		t.Errorf("max images: %+v", oe)
	}
	p = New(Policy{AllowHosts: allowLocal(), MaxTotalBytes: int64(len(png)) * 2})
	_, oe = process(t, p, chat(imagePart(srv.URL+"/a"), imagePart(srv.URL+"/b"), imagePart(srv.URL+"/c")), inline())
	if oe == nil || *oe.Code != codeTooLarge || !strings.Contains(oe.Message, "request's limit") {
		t.Errorf("max total: %+v", oe)
	}
	// Downloads of one request run in parallel, at most Parallel at once:
	// each request waits until three are in flight together.
	var inflight, peak atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	par := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == 3 {
			once.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
		w.Write(png)
	}))
	defer par.Close()
	p = New(Policy{AllowHosts: allowLocal(), Parallel: 3})
	if _, oe := process(t, p, chat(imagePart(par.URL+"/1"), imagePart(par.URL+"/2"), imagePart(par.URL+"/3"), imagePart(par.URL+"/4")), inline()); oe != nil {
		t.Fatal(oe.Message)
	}
	if peak.Load() != 3 {
		t.Errorf("at most %d downloads in flight, want 3", peak.Load())
	}
}

func TestDocuments(t *testing.T) {
	docx := docstest.DOCX()
	srv := newServer(t, map[string]file{
		"/files/report.docx": {body: docx, ctype: "application/octet-stream"},
		"/dl":                {body: docstest.PDF(), header: map[string]string{"Content-Disposition": `attachment; filename="paper.pdf"`}},
	})
	p := New(Policy{AllowHosts: allowLocal()})
	filePart := `{"type":"file","file":{"filename":"report.docx","file_data":"` + dataURL("application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx) + `"}}`
	body := chat(filePart, `{"type":"file_url","file_url":{"url":"`+srv.URL+`/dl"}}`, `{"type":"file_url","file_url":{"url":"`+srv.URL+`/files/report.docx"}}`)
	out, oe := process(t, p, body, Target{})
	if oe != nil {
		t.Fatal(oe.Message)
	}
	for i, want := range map[int]string{
		1: "File: report.docx\n\n" + docstest.DOCXText,
		2: "File: paper.pdf\n\n" + docstest.PDFText,
		3: "File: report.docx\n\n" + docstest.DOCXText,
	} {
		if p := part(out, i); p.Get("type").String() != "text" || p.Get("text").String() != want {
			t.Errorf("part %d:\n%s\nwant:\n%s", i, p.Get("text").String(), want)
		}
	}
	// Bare base64 file_data, as some SDKs send it.
	raw := `{"type":"file","file":{"filename":"t.csv","file_data":"` + base64.StdEncoding.EncodeToString([]byte("a,b\n1,2\n")) + `"}}`
	out, oe = process(t, p, chat(raw), Target{})
	if oe != nil || part(out, 1).Get("text").String() != "File: t.csv\n\n| a | b |\n| --- | --- |\n| 1 | 2 |" {
		t.Errorf("bare base64: %v %s", oe, out)
	}
	// Passthrough: file parts go on; file_url becomes one.
	pt := Target{Documents: "passthrough"}
	out, oe = process(t, p, chat(filePart), pt)
	if oe != nil || !bytes.Equal(out, chat(filePart)) {
		t.Errorf("passthrough changed a file part: %v", oe)
	}
	out, oe = process(t, p, chat(`{"type":"file_url","file_url":{"url":"`+srv.URL+`/dl"}}`), pt)
	if oe != nil || part(out, 1).Get("file.filename").String() != "paper.pdf" ||
		part(out, 1).Get("file.file_data").String() != dataURL("application/pdf", docstest.PDF()) {
		t.Errorf("passthrough file_url: %v %.300s", oe, out)
	}
	// A corrupt PDF is refused naming the file and the reason.
	pdf := docstest.PDF()
	corrupt := append(append([]byte(nil), pdf[:len(pdf)/2]...), "\n%%EOF\n"...)
	bad := `{"type":"file","file":{"filename":"broken.pdf","file_data":"` + dataURL("application/pdf", corrupt) + `"}}`
	_, oe = process(t, p, chat(bad), Target{})
	if oe == nil || oe.Status != 400 || *oe.Code != codeFile ||
		!strings.HasPrefix(oe.Message, `messages[1].content[1]: the file "broken.pdf" could not be read: the PDF is corrupt or unreadable`) {
		t.Errorf("corrupt pdf: %+v", oe)
	}
	unsupported := `{"type":"file","file":{"filename":"x.bin","file_data":"` + dataURL("application/octet-stream", []byte{0, 1, 2, 0}) + `"}}`
	if _, oe = process(t, p, chat(unsupported), Target{}); oe == nil || *oe.Code != codeFileType || !strings.Contains(oe.Message, `"x.bin"`) {
		t.Errorf("unsupported: %+v", oe)
	}
	big := `{"type":"file","file":{"filename":"big.txt","file_data":"` + dataURL("text/plain", make([]byte, 3000)) + `"}}`
	if _, oe = process(t, New(Policy{MaxDocBytes: 1000}), chat(big), Target{}); oe == nil || *oe.Code != codeTooLarge {
		t.Errorf("too large: %+v", oe)
	}
	// An image sent as a file becomes an image part.
	img := `{"type":"file","file":{"filename":"p.png","file_data":"` + dataURL("application/octet-stream", pngBytes(t)) + `"}}`
	out, oe = process(t, p, chat(img), Target{})
	if oe != nil || part(out, 1).Get("image_url.url").String() != dataURL("image/png", pngBytes(t)) {
		t.Errorf("image as file: %v %s", oe, out)
	}
}

func TestAudio(t *testing.T) {
	wav := wavBytes()
	ogg := append([]byte("OggS"), make([]byte, 60)...)
	srv := newServer(t, map[string]file{"/a.wav": {body: wav}, "/a.ogg": {body: ogg}, "/a.txt": {body: []byte("hello")}})
	audioURL := func(path string) string {
		return `{"type":"audio_url","audio_url":{"url":"` + srv.URL + path + `","headers":{"X-Key":"k"}}}`
	}
	p := New(Policy{AllowHosts: allowLocal(), FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")})
	out, oe := process(t, p, chat(audioURL("/a.wav")), Target{Audio: true})
	if oe != nil {
		t.Fatal(oe.Message)
	}
	a := part(out, 1)
	if a.Get("type").String() != "input_audio" || a.Get("input_audio.format").String() != "wav" ||
		a.Get("input_audio.data").String() != base64.StdEncoding.EncodeToString(wav) || bytes.Contains(out, []byte("X-Key")) {
		t.Errorf("wav: %s", a.Raw)
	}
	_, oe = process(t, p, chat(audioURL("/a.wav")), Target{})
	if oe == nil || *oe.Code != codeAudioVendor {
		t.Errorf("audio to a vendor without audio: %+v", oe)
	}
	_, oe = process(t, p, chat(`{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}`), Target{})
	if oe == nil || *oe.Code != codeAudioVendor || !strings.Contains(oe.Message, "does not take audio") {
		t.Errorf("input_audio to a vendor without audio: %+v", oe)
	}
	in := chat(`{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}`)
	if out, oe := process(t, p, in, Target{Audio: true}); oe != nil || !bytes.Equal(out, in) {
		t.Errorf("input_audio changed: %v", oe)
	}
	_, oe = process(t, p, chat(audioURL("/a.ogg")), Target{Audio: true})
	if oe == nil || *oe.Code != codeAudioFormat || !strings.Contains(oe.Message, "the audio is ogg") || !strings.Contains(oe.Message, "ffmpeg is not installed") {
		t.Errorf("ogg without ffmpeg: %+v", oe)
	}
	_, oe = process(t, p, chat(audioURL("/a.txt")), Target{Audio: true})
	if oe == nil || *oe.Code != codeAudioFormat {
		t.Errorf("not audio: %+v", oe)
	}
}

// TestFFmpeg runs a stand-in ffmpeg (a shell script that writes a known wav)
// to check the arguments, the conversion path and the temp file cleanup.
func TestFFmpeg(t *testing.T) {
	dir := t.TempDir()
	wavPath := filepath.Join(dir, "out.wav")
	os.WriteFile(wavPath, wavBytes(), 0o600)
	script := filepath.Join(dir, "ffmpeg")
	os.WriteFile(script, []byte("#!/bin/sh\n"+
		"echo \"$@\" > "+filepath.Join(dir, "args")+"\n"+
		"for a; do last=$a; done\n"+
		"case \"$*\" in *flac*) sleep 5;; esac\n"+
		"cp "+wavPath+" \"$last\"\n"), 0o700)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	p := New(Policy{FFmpeg: script, ExtractTimeout: 500 * time.Millisecond})
	if !p.CanConvertAudio() {
		t.Fatal("stand-in ffmpeg not found")
	}
	ogg := append([]byte("OggS"), make([]byte, 60)...)
	part1 := `{"type":"audio_url","audio_url":{"url":"` + dataURL("audio/ogg", ogg) + `"}}`
	out, oe := process(t, p, chat(part1), Target{Audio: true})
	if oe != nil {
		t.Fatal(oe.Message)
	}
	if got := part(out, 1).Get("input_audio.data").String(); got != base64.StdEncoding.EncodeToString(wavBytes()) || part(out, 1).Get("input_audio.format").String() != "wav" {
		t.Errorf("converted: %s", part(out, 1).Raw)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if !strings.Contains(string(args), "-protocol_whitelist file -f ogg -i") {
		t.Errorf("ffmpeg args: %s", args)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	// A conversion that overruns its time limit is killed and cleaned up.
	p.ffmpeg = script
	slow := New(Policy{FFmpeg: script, ExtractTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := slow.Process(context.Background(), chat(`{"type":"audio_url","audio_url":{"url":"`+dataURL("audio/flac", append([]byte("fLaC"), []byte("slow")...))+`"}}`), Target{Audio: true})
	if oe, ok := err.(*openai.Error); !ok || !strings.Contains(oe.Message, "took too long") || time.Since(start) > 3*time.Second {
		t.Errorf("slow conversion: %v after %v", err, time.Since(start))
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left after a timeout: %v", left)
	}
}

func TestDescribe(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{"/img.png": {body: png, needHdr: [2]string{"X-Token", "s"}}})
	body, err := DescribeRequest([]byte(`{"type":"image_url","image_url":{"url":"`+srv.URL+`/img.png","headers":{"X-Token":"s"}}}`), "gpt-4o", "")
	if err != nil {
		t.Fatal(err)
	}
	var req openai.ChatRequest
	if err := jsonUnmarshal(body, &req); err != nil || req.Model != "gpt-4o" || len(req.Messages) != 2 ||
		req.Messages[0].Content.Text != DefaultDescribePrompt || !Needs(&req) {
		t.Fatalf("describe request: %v %s", err, body)
	}
	out, oe := process(t, New(Policy{AllowHosts: allowLocal()}), body, inline())
	if oe != nil {
		t.Fatal(oe.Message)
	}
	if part(out, 1).Get("image_url.url").String() != dataURL("image/png", png) || part(out, 1).Get("image_url.detail").String() != "high" || bytes.Contains(out, []byte("X-Token")) {
		t.Errorf("described: %s", out)
	}
	for _, bad := range []string{`[]`, `{"type":"text"}`, `{"type":"image_url"}`, `{"type":"image_url","image_url":{}}`} {
		if _, err := DescribeRequest([]byte(bad), "m", "p"); err == nil {
			t.Errorf("%s accepted", bad)
		} else if _, ok := err.(*openai.Error); !ok {
			t.Errorf("%s: %T", bad, err)
		}
	}
	body, _ = DescribeRequest([]byte(`{"image_url":"https://example.com/a.png"}`), "m", "Read it.")
	if !bytes.Contains(body, []byte(`"content":"Read it."`)) {
		t.Errorf("prompt: %s", body)
	}
}

func TestNeeds(t *testing.T) {
	for body, want := range map[string]bool{
		`{"messages":[{"role":"user","content":"hi"}]}`:                                                                    false,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`:                                           false,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`:            true,
		`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]}`:                                true,
		`{"messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`: true,
		`{"messages":[{"role":"user","content":[{"type":"audio_url","audio_url":{"url":"https://x"}}]}]}`:                  true,
		`{"messages":[{"role":"user","content":[{"type":"file_url","file_url":{"url":"https://x"}}]}]}`:                    true,
	} {
		var req openai.ChatRequest
		if err := jsonUnmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		if Needs(&req) != want {
			t.Errorf("%s: want %v", body, want)
		}
	}
	req := &openai.ChatRequest{Messages: []openai.Message{{Content: openai.Content{Text: "hi"}}, {Content: openai.Content{IsParts: true, Parts: []openai.Part{{Type: "text"}}}}}}
	if n := testing.AllocsPerRun(100, func() { Needs(req) }); n != 0 {
		t.Errorf("Needs allocates %v times", n)
	}
	p := New(Policy{})
	plain := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if out, err := p.Process(context.Background(), plain, Target{}); err != nil || &out[0] != &plain[0] {
		t.Errorf("a plain request must come back as the same slice")
	}
}

func TestMalformedParts(t *testing.T) {
	p := New(Policy{})
	for _, c := range []string{
		`{"type":"image_url"}`,
		`{"type":"image_url","image_url":{"detail":"low"}}`,
		`{"type":"image_url","image_url":7}`,
		`{"type":"image_url","image_url":{"url":"https://example.com/a.png","headers":"x"}}`,
		`{"type":"file","file":{"filename":"a.pdf"}}`,
		`{"type":"file_url","file_url":{"url":"data:text/plain;base64,aGk="}}`,
	} {
		_, oe := process(t, p, chat(c), inline())
		if oe == nil || oe.Status != 400 || *oe.Param != "messages[1].content[1]" {
			t.Errorf("%s: %+v", c, oe)
		}
	}
	// Duplicate keys resolve as encoding/json does: the last one wins.
	dup := `{"type":"text","type":"image_url","image_url":{"url":"file:///etc/passwd"}}`
	if _, oe := process(t, p, chat(dup), inline()); oe == nil || *oe.Code != codeRefused {
		t.Errorf("duplicate type: %+v", oe)
	}
}

// A data: URL that only looks standard at its start still reaches the
// vendor in the one form every vendor reads: "data:<type>;base64,<padded
// standard base64>". Line breaks of MIME-wrapped base64 (`base64` wraps at
// 76 columns), URL-safe letters past the first bytes, missing padding,
// media-type parameters and capitals were all forwarded as they came.
func TestDataURLNormalisedWhole(t *testing.T) {
	p := New(Policy{})
	// An image whose URL-safe encoding differs from the standard one only
	// after the first 64 characters.
	var img []byte
	for n := 1; n < 64 && img == nil; n++ {
		b := pngSized(t, n)
		us := base64.URLEncoding.EncodeToString(b)
		if i := strings.IndexAny(us, "-_"); i > 64 {
			img = b
		}
	}
	if img == nil {
		t.Fatal("no test image found")
	}
	std := base64.StdEncoding.EncodeToString(img)
	var wrapped strings.Builder
	for i := 0; i < len(std); i += 76 {
		wrapped.WriteString(std[i:min(i+76, len(std))] + "\r\n")
	}
	want := dataURL("image/png", img)
	for name, u := range map[string]string{
		"wrapped at 76":    "data:image/png;base64," + wrapped.String(),
		"url-safe late":    "data:image/png;base64," + base64.URLEncoding.EncodeToString(img),
		"unpadded":         "data:image/png;base64," + base64.RawStdEncoding.EncodeToString(img),
		"charset":          "data:image/png;charset=binary;base64," + std,
		"capitals":         "data:image/PNG;BASE64," + std,
		"space after semi": "data:image/png; base64," + std,
	} {
		out, oe := process(t, p, chat(imagePart(u)), Target{CanFetchURLs: true})
		if oe != nil {
			t.Errorf("%s: %s", name, oe.Message)
			continue
		}
		if got := part(out, 1).Get("image_url.url").String(); got != want {
			t.Errorf("%s: sent on as %.60q…, want the standard form", name, got)
		}
	}
	// The standard form itself still passes byte for byte.
	body := chat(imagePart(want))
	if out, oe := process(t, p, body, Target{CanFetchURLs: true}); oe != nil || !bytes.Equal(out, body) {
		t.Errorf("a standard data URL was rewritten: %v", oe)
	}
}

// pngSized is an n×n PNG with varied pixels.
func pngSized(t *testing.T, n int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for i := range img.Pix {
		img.Pix[i] = byte(i*31 + n)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Under documents: passthrough a downloaded file goes on as a file part
// declaring the server's Content-Type. Servers send Office files and CSV
// as application/octet-stream or application/zip, which no vendor takes as
// a document type: the file's name and bytes must say what it is then.
func TestPassthroughFileMIME(t *testing.T) {
	srv := newServer(t, map[string]file{
		"/download":  {body: docstest.DOCX(), ctype: "application/octet-stream"},
		"/book.xlsx": {body: docstest.XLSX(), ctype: "application/zip"},
		"/export":    {body: []byte("a,b\n1,2\n"), ctype: "application/octet-stream", header: map[string]string{"Content-Disposition": `attachment; filename="q3.csv"`}},
		"/notes.txt": {body: []byte("hello"), ctype: "text/plain; charset=utf-8"},
	})
	p := New(Policy{AllowHosts: allowLocal()})
	for path, want := range map[string]string{
		"/download":  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"/book.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"/export":    "text/csv",
		"/notes.txt": "text/plain",
	} {
		out, oe := process(t, p, chat(`{"type":"file_url","file_url":{"url":"`+srv.URL+path+`"}}`), Target{Documents: "passthrough"})
		if oe != nil {
			t.Errorf("%s: %s", path, oe.Message)
			continue
		}
		if got := part(out, 1).Get("file.file_data").String(); !strings.HasPrefix(got, "data:"+want+";base64,") {
			t.Errorf("%s: file_data %.90q, want type %s", path, got, want)
		}
	}
}
