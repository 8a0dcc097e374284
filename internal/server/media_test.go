package server

// End-to-end tests of images, documents and audio: real HTTP on 127.0.0.1
// from the client (the openai-go SDK where it has the part, raw JSON where
// it does not) through the gateway to the fake vendor, with a local file
// server standing in for the web. Recorded bodies show what reached the
// vendor.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/media/docs/docstest"
	"github.com/genrouter/genrouter/internal/vendors/fake"
)

// mediaFlavors are the vendors the media tests run against: OpenAI told to
// take images inline, and Gemini's OpenAI-compatible endpoint, which cannot
// fetch URLs and so gets them inline by default.
var mediaFlavors = []struct {
	name   string
	flavor fake.Flavor
	typ    string
	inline string
}{
	{"openai", fake.OpenAI, config.TypeOpenAI, config.InlineAlways},
	{"gemini", fake.GeminiCompat, config.TypeGemini, ""},
}

// served is one file of a fileServer.
type served struct {
	body    []byte
	ctype   string
	status  int
	header  map[string]string
	needHdr [2]string // a header the request must carry, else 401
}

// fileServer serves files on 127.0.0.1, counting requests per path and
// keeping the headers of the last one.
type fileServer struct {
	URL   string
	mu    sync.Mutex
	files map[string]served
	hits  map[string]int
	last  http.Header
	total atomic.Int64
}

func startFiles(t *testing.T, files map[string]served) *fileServer {
	t.Helper()
	fs := &fileServer{files: files, hits: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.total.Add(1)
		fs.mu.Lock()
		fs.hits[r.URL.Path]++
		fs.last = r.Header.Clone()
		f, ok := fs.files[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if f.needHdr[0] != "" && r.Header.Get(f.needHdr[0]) != f.needHdr[1] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		for k, v := range f.header {
			w.Header().Set(k, v)
		}
		if f.ctype != "" {
			w.Header().Set("Content-Type", f.ctype)
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
		}
		w.Write(f.body)
	}))
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	fs.URL = hs.URL
	return fs
}

func (fs *fileServer) hitsOf(path string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits[path]
}

func (fs *fileServer) lastHeader() http.Header {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.last
}

// testPNG is a real 2×2 PNG.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	img.Set(1, 1, color.RGBA{0, 0, 255, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testWAV is a tiny valid WAV: 16-bit mono PCM at 8 kHz, 50 ms of silence.
func testWAV() []byte {
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

func dataURLOf(typ string, b []byte) string {
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(b)
}

// mediaVendor is a fake vendor of a flavor with one key and model
// "served-model", and its config entry.
func mediaVendor(t *testing.T, name string, flavor fake.Flavor, typ, inline string) (config.Vendor, *fake.Server) {
	t.Helper()
	up := fake.Start(t, flavor, fake.Options{Keys: map[string]string{"sk-" + name: "key-" + name}})
	v := vendorOf(name, typ, up.URL(), []string{"sk-" + name}, "served-model")
	v.InlineImages = inline
	return v, up
}

// mediaGateway serves vendors with media settings m.
func mediaGateway(t *testing.T, m config.Media, vs ...config.Vendor) *gateway {
	t.Helper()
	cfg := configOf(config.UnknownModelsPool, vs...)
	cfg.Media = m
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, cfg)
}

// allowLoopback is what opens the local file server to the fetcher.
func allowLoopback() config.Media { return config.Media{AllowHosts: []string{"127.0.0.1/32"}} }

// sentPart is messages[m].content[p] of the only request the vendor saw.
func sentPart(t *testing.T, up *fake.Server, m, p int) gjson.Result {
	t.Helper()
	reqs := up.Requests()
	if len(reqs) != 1 {
		t.Fatalf("vendor saw %d requests, want 1", len(reqs))
	}
	return gjson.GetBytes(reqs[0].Body, "messages."+itoa(m)+".content."+itoa(p))
}

func itoa(i int) string { return string(rune('0' + i)) }

// inlined checks an image_url part carries exactly data as a data: URL of typ.
func inlined(t *testing.T, part gjson.Result, typ string, data []byte) {
	t.Helper()
	if part.Get("type").String() != "image_url" {
		t.Fatalf("part is not an image: %.200s", part.Raw)
	}
	u := part.Get("image_url.url").String()
	prefix := "data:" + typ + ";base64,"
	if !strings.HasPrefix(u, prefix) {
		t.Fatalf("image url = %.80q, want a %s data URL", u, typ)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(u, prefix))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the vendor got %d bytes, not the %d served", len(got), len(data))
	}
}

// apiErr decodes an OpenAI-shaped error body.
func apiErr(t *testing.T, body string) (code, param, msg string) {
	t.Helper()
	env, ok := parseOpenAIError(body)
	if !ok {
		t.Fatalf("not an OpenAI error body: %s", body)
	}
	if env.Error.Code != nil {
		code = *env.Error.Code
	}
	if env.Error.Param != nil {
		param = *env.Error.Param
	}
	return code, param, env.Error.Message
}

// chatWithParts is a raw chat body: one user message of a text part and parts.
func chatWithParts(parts ...string) string {
	return `{"model":"my-alias","messages":[{"role":"user","content":[{"type":"text","text":"look"},` +
		strings.Join(parts, ",") + `]}]}`
}

func imageURLPart(u string, headers map[string]string) string {
	img := map[string]any{"url": u}
	if headers != nil {
		img["headers"] = headers
	}
	b, _ := json.Marshal(map[string]any{"type": "image_url", "image_url": img})
	return string(b)
}

// TestMediaImageURLInlined: an image URL reaches vendors that need inline
// data as a data: URL of the real type with exactly the served bytes; the
// declared type is corrected; image_url.headers reach the image's server
// and nothing else.
func TestMediaImageURLInlined(t *testing.T) {
	pic := testPNG(t)
	files := startFiles(t, map[string]served{
		"/cat.png":     {body: pic, ctype: "image/png"},
		"/mislabelled": {body: pic, ctype: "image/jpeg"},
		"/private.png": {body: pic, ctype: "image/png", needHdr: [2]string{"Authorization", "Bearer img-secret"}},
	})
	for _, f := range mediaFlavors {
		t.Run(f.name, func(t *testing.T) {
			v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
			g := mediaGateway(t, allowLoopback(), v)
			c := sdk(g)

			t.Run("url", func(t *testing.T) {
				up.Reset()
				got, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model: "my-alias",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("what is this?"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: files.URL + "/cat.png", Detail: "low"}),
					})},
				})
				if err != nil {
					t.Fatal(err)
				}
				if msg := got.Choices[0].Message.Content; !strings.Contains(msg, "(1 images)") || !strings.Contains(msg, "what is this?") {
					t.Errorf("answer = %q", msg)
				}
				p := sentPart(t, up, 0, 1)
				inlined(t, p, "image/png", pic)
				if d := p.Get("image_url.detail").String(); d != "low" {
					t.Errorf("detail = %q, want the client's", d)
				}
				if txt := sentPart(t, up, 0, 0).Get("text").String(); txt != "what is this?" {
					t.Errorf("text part = %q", txt)
				}
			})

			t.Run("wrong declared type", func(t *testing.T) {
				up.Reset()
				_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model: "my-alias",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("what is this?"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: files.URL + "/mislabelled"}),
					})},
				})
				if err != nil {
					t.Fatal(err)
				}
				inlined(t, sentPart(t, up, 0, 1), "image/png", pic)
			})

			t.Run("wrong declared type in a data URL", func(t *testing.T) {
				up.Reset()
				_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model: "my-alias",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("what is this?"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: dataURLOf("image/jpeg", pic)}),
					})},
				})
				if err != nil {
					t.Fatal(err)
				}
				inlined(t, sentPart(t, up, 0, 1), "image/png", pic)
			})

			t.Run("headers", func(t *testing.T) {
				up.Reset()
				status, _, body := post(t, g.URL+"/chat/completions", chatWithParts(
					imageURLPart(files.URL+"/private.png", map[string]string{"Authorization": "Bearer img-secret", "X-Trace": "t-1"})))
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, body)
				}
				if h := files.lastHeader(); h.Get("Authorization") != "Bearer img-secret" || h.Get("X-Trace") != "t-1" {
					t.Errorf("the image server got headers %v", h)
				}
				p := sentPart(t, up, 0, 1)
				inlined(t, p, "image/png", pic)
				rec := up.Requests()[0]
				if p.Get("image_url.headers").Exists() || bytes.Contains(rec.Body, []byte("img-secret")) || bytes.Contains(rec.Body, []byte("t-1")) {
					t.Errorf("the headers reached the vendor: %.300s", rec.Body)
				}
				for k, vs := range rec.Header {
					for _, v := range vs {
						if strings.Contains(v, "img-secret") || strings.EqualFold(k, "X-Trace") {
							t.Errorf("vendor request header %s: %s", k, v)
						}
					}
				}
				if strings.Contains(g.logs.String(), "img-secret") {
					t.Errorf("the headers were logged")
				}
			})

			t.Run("stream", func(t *testing.T) {
				up.Reset()
				stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model: "my-alias",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
						openai.TextContentPart("stream it"),
						openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: files.URL + "/cat.png"}),
					})},
				})
				var text strings.Builder
				for stream.Next() {
					if ch := stream.Current(); len(ch.Choices) > 0 {
						text.WriteString(ch.Choices[0].Delta.Content)
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(text.String(), "(1 images)") {
					t.Errorf("streamed answer = %q", text.String())
				}
				inlined(t, sentPart(t, up, 0, 1), "image/png", pic)
			})
		})
	}
}

// TestMediaRefusedWithoutAllowHosts: the same loopback URL, with the
// default address policy, is refused with a 400 naming the part; neither
// the image server nor the vendor hears of it.
func TestMediaRefusedWithoutAllowHosts(t *testing.T) {
	files := startFiles(t, map[string]served{"/cat.png": {body: testPNG(t), ctype: "image/png"}})
	for _, f := range mediaFlavors {
		t.Run(f.name, func(t *testing.T) {
			v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
			g := mediaGateway(t, config.Media{}, v)
			for _, u := range []string{files.URL + "/cat.png", strings.Replace(files.URL, "127.0.0.1", "2130706433", 1) + "/cat.png"} {
				status, h, body := post(t, g.URL+"/chat/completions", chatWithParts(imageURLPart(u, nil)))
				assertOpenAIError(t, status, h, body, http.StatusBadRequest, "messages[0].content[1]")
				code, _, msg := apiErr(t, body)
				if code != "url_refused" || !strings.HasPrefix(msg, "messages[0].content[1]: ") || !strings.Contains(msg, "loopback") {
					t.Errorf("code %q message %q", code, msg)
				}
				if strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "2130706433") {
					t.Errorf("the message echoes the address: %s", msg)
				}
			}
			if n := len(up.Requests()); n != 0 {
				t.Errorf("the vendor got %d requests", n)
			}
			if n := files.total.Load(); n != 0 {
				t.Errorf("the image server got %d requests", n)
			}
		})
	}
}

// TestMediaDocuments: files sent as file parts reach vendors that take text
// as one text part: the name, then the document as Markdown.
func TestMediaDocuments(t *testing.T) {
	docs := []struct {
		name, mime string
		data       []byte
		text       string
	}{
		{"report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docstest.DOCX(), docstest.DOCXText},
		{"sales.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", docstest.XLSX(), docstest.XLSXText},
		{"paper.pdf", "application/pdf", docstest.PDF(), docstest.PDFText},
		{"deck.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", docstest.PPTX(), docstest.PPTXText},
	}
	for _, f := range mediaFlavors {
		t.Run(f.name, func(t *testing.T) {
			v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
			g := mediaGateway(t, config.Media{}, v)
			for _, d := range docs {
				t.Run(d.name, func(t *testing.T) {
					up.Reset()
					got, err := sdk(g).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
						Model: "my-alias",
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
							openai.TextContentPart("summarise"),
							openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{
								FileData: openai.String(dataURLOf(d.mime, d.data)), Filename: openai.String(d.name)}),
						})},
					})
					if err != nil {
						t.Fatal(err)
					}
					p := sentPart(t, up, 0, 1)
					if typ := p.Get("type").String(); typ != "text" {
						t.Fatalf("the file reached the vendor as %q: %.200s", typ, p.Raw)
					}
					if want := "File: " + d.name + "\n\n" + d.text; p.Get("text").String() != want {
						t.Errorf("text part:\n%s\nwant:\n%s", p.Get("text").String(), want)
					}
					if !strings.Contains(got.Choices[0].Message.Content, "summarise") {
						t.Errorf("answer = %q", got.Choices[0].Message.Content)
					}
				})
			}
		})
	}

	t.Run("passthrough", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, "")
		v.Documents = config.DocsPass
		g := mediaGateway(t, config.Media{}, v)
		part := `{"type":"file","file":{"file_data":"` + dataURLOf("application/pdf", docstest.PDF()) + `","filename":"paper.pdf"}}`
		status, _, body := post(t, g.URL+"/chat/completions", chatWithParts(part))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		if p := sentPart(t, up, 0, 1); p.Raw != part {
			t.Errorf("passthrough changed the part: %.200s", p.Raw)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, "")
		g := mediaGateway(t, config.Media{}, v)
		part := `{"type":"file","file":{"file_data":"` + dataURLOf("application/pdf", []byte("%PDF-1.4 not really")) + `","filename":"broken.pdf"}}`
		status, h, body := post(t, g.URL+"/chat/completions", chatWithParts(part))
		assertOpenAIError(t, status, h, body, http.StatusBadRequest, "messages[0].content[1]")
		if _, _, msg := apiErr(t, body); !strings.Contains(msg, `"broken.pdf"`) {
			t.Errorf("message does not name the file: %s", msg)
		}
		if n := len(up.Requests()); n != 0 {
			t.Errorf("the vendor got %d requests", n)
		}
	})
}

// TestMediaOnError: a 404 image becomes a note to the model under
// "explain" (the other parts still arrive) and a 4xx naming the part under
// "fail" (the vendor hears nothing).
func TestMediaOnError(t *testing.T) {
	pic := testPNG(t)
	files := startFiles(t, map[string]served{"/cat.png": {body: pic, ctype: "image/png"}})
	body := chatWithParts(imageURLPart(files.URL+"/missing.png", nil), imageURLPart(files.URL+"/cat.png", nil))
	for _, f := range mediaFlavors {
		t.Run(f.name, func(t *testing.T) {
			t.Run("explain", func(t *testing.T) {
				m := allowLoopback()
				m.OnError = media.OnErrorExplain
				v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
				g := mediaGateway(t, m, v)
				status, _, out := post(t, g.URL+"/chat/completions", body)
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, out)
				}
				if txt := sentPart(t, up, 0, 0).Get("text").String(); txt != "look" {
					t.Errorf("text part = %q", txt)
				}
				note := sentPart(t, up, 0, 1)
				if note.Get("type").String() != "text" || !strings.Contains(note.Get("text").String(), "404") ||
					!strings.Contains(note.Get("text").String(), "Note from the gateway") {
					t.Errorf("the failed image became %.300s", note.Raw)
				}
				inlined(t, sentPart(t, up, 0, 2), "image/png", pic)
				if !strings.Contains(gjson.Get(out, "choices.0.message.content").String(), "(1 images)") {
					t.Errorf("answer: %s", out)
				}
			})
			t.Run("fail", func(t *testing.T) {
				v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
				g := mediaGateway(t, allowLoopback(), v) // fail is the default
				status, h, out := post(t, g.URL+"/chat/completions", body)
				assertOpenAIError(t, status, h, out, http.StatusBadRequest, "messages[0].content[1]")
				if code, _, msg := apiErr(t, out); code != "media_download_failed" || !strings.Contains(msg, "404") {
					t.Errorf("code %q message %q", code, msg)
				}
				if n := len(up.Requests()); n != 0 {
					t.Errorf("the vendor got %d requests", n)
				}
			})
		})
	}
}

// TestImagesText: the legacy describe endpoint answers with the vendor's
// text, the model used and its usage, through the same routing, media and
// error handling as chat.
func TestImagesText(t *testing.T) {
	pic := testPNG(t)
	files := startFiles(t, map[string]served{
		"/cat.png":     {body: pic, ctype: "image/png"},
		"/private.png": {body: pic, ctype: "image/png", needHdr: [2]string{"Authorization", "Bearer img-secret"}},
	})
	describe := func(u string, headers map[string]string) string { return imageURLPart(u, headers) }

	for _, f := range mediaFlavors {
		t.Run(f.name, func(t *testing.T) {
			v, up := mediaVendor(t, "v", f.flavor, f.typ, f.inline)
			g := mediaGateway(t, allowLoopback(), v)
			status, h, out := post(t, g.URL+"/images/text",
				describe(files.URL+"/private.png", map[string]string{"Authorization": "Bearer img-secret"}))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, out)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var ans struct {
				Text  string         `json:"text"`
				Model string         `json:"model"`
				Usage map[string]any `json:"usage"`
			}
			if err := json.Unmarshal([]byte(out), &ans); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ans.Text, "Describe this image.") || !strings.Contains(ans.Text, "(1 images)") ||
				!strings.Contains(ans.Text, "served-model") {
				t.Errorf("text = %q", ans.Text)
			}
			if ans.Model != "served-model" {
				t.Errorf("model = %q", ans.Model)
			}
			if h.Get("X-Genrouter-Vendor") != "v" || h.Get("X-Genrouter-Model") != "served-model" ||
				h.Get("X-Genrouter-Credential") != "k0" || h.Get("X-Request-Id") == "" || h.Get("X-Genrouter-Attempts") != "1" {
				t.Errorf("headers %v", h)
			}
			rec := up.Requests()
			if len(rec) != 1 {
				t.Fatalf("vendor saw %d requests", len(rec))
			}
			sent := rec[0].Body
			if sys := gjson.GetBytes(sent, "messages.0.content").String(); sys != media.DefaultDescribePrompt {
				t.Errorf("system prompt = %q", sys)
			}
			if rec[0].Model != "served-model" || gjson.GetBytes(sent, "stream").Bool() {
				t.Errorf("model %q, body %.200s", rec[0].Model, sent)
			}
			inlined(t, sentPart(t, up, 1, 1), "image/png", pic)
			if bytes.Contains(sent, []byte("img-secret")) {
				t.Errorf("the image's headers reached the vendor")
			}
			if pt, _ := ans.Usage["prompt_tokens"].(float64); pt <= 0 {
				t.Errorf("usage = %v", ans.Usage)
			}
			if tt, _ := ans.Usage["total_tokens"].(float64); tt <= 0 {
				t.Errorf("usage = %v", ans.Usage)
			}
			if !strings.Contains(g.logs.String(), `"path":"/v1/images/text"`) || strings.Contains(g.logs.String(), "img-secret") {
				t.Errorf("log: %s", g.logs.String())
			}
		})
	}

	t.Run("usage verbatim", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
		g := mediaGateway(t, allowLoopback(), v)
		status, _, out := post(t, g.URL+"/images/text", describe(files.URL+"/cat.png", nil))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, out)
		}
		// The fake's answer is deterministic: ask it again directly for the
		// same request to know its usage.
		sent := up.Requests()[0].Body
		req, _ := http.NewRequest(http.MethodPost, up.URL()+"/chat/completions", bytes.NewReader(sent))
		req.Header.Set("Authorization", "Bearer sk-v")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var direct struct {
			Usage json.RawMessage `json:"usage"`
		}
		json.NewDecoder(resp.Body).Decode(&direct)
		var a, b bytes.Buffer
		json.Compact(&a, direct.Usage)
		json.Compact(&b, []byte(gjson.Get(out, "usage").Raw))
		if a.String() != b.String() || a.Len() == 0 {
			t.Errorf("usage %s, the vendor reported %s", b.String(), a.String())
		}
	})

	t.Run("vendor, model and prompt", func(t *testing.T) {
		a, upA := mediaVendor(t, "a", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
		a.Models[0].Images = false // the first image model is b's
		a.Models = append(a.Models, config.Model{Name: "a-vision", Images: true, Streaming: true})
		b, upB := mediaVendor(t, "b", fake.GeminiCompat, config.TypeGemini, "")
		g := mediaGateway(t, allowLoopback(), a, b)
		// The first model that takes images, in config order.
		for range 3 {
			status, h, out := post(t, g.URL+"/images/text", describe(files.URL+"/cat.png", nil))
			if status != http.StatusOK || gjson.Get(out, "model").String() != "a-vision" || h.Get("X-Genrouter-Vendor") != "a" {
				t.Fatalf("status %d vendor %q: %s", status, h.Get("X-Genrouter-Vendor"), out)
			}
		}
		// ?vendor= narrows the pool, and the model is that vendor's first.
		status, h, out := post(t, g.URL+"/images/text?vendor=b", describe(files.URL+"/cat.png", nil))
		if status != http.StatusOK || h.Get("X-Genrouter-Vendor") != "b" || gjson.Get(out, "model").String() != "served-model" {
			t.Fatalf("status %d vendor %q: %s", status, h.Get("X-Genrouter-Vendor"), out)
		}
		if len(upB.Requests()) != 1 || len(upA.Requests()) != 3 {
			t.Errorf("a saw %d, b saw %d", len(upA.Requests()), len(upB.Requests()))
		}
		// Without /v1 too.
		bare := strings.TrimSuffix(g.URL, "/v1")
		if status, _, out := post(t, bare+"/images/text?vendor=gemini", describe(files.URL+"/cat.png", nil)); status != http.StatusOK {
			t.Errorf("bare path: %d %s", status, out)
		}

		m := allowLoopback()
		m.DescribeModel, m.DescribePrompt = "served-model", "List every word you can read."
		g = mediaGateway(t, m, a, b)
		upA.Reset()
		upB.Reset()
		for range 4 {
			status, _, out := post(t, g.URL+"/images/text?vendor=b", describe(files.URL+"/cat.png", nil))
			if status != http.StatusOK || gjson.Get(out, "model").String() != "served-model" {
				t.Fatalf("status %d: %s", status, out)
			}
		}
		for _, r := range upB.Requests() {
			if sys := gjson.GetBytes(r.Body, "messages.0.content").String(); sys != "List every word you can read." || r.Model != "served-model" {
				t.Errorf("model %q system %q", r.Model, sys)
			}
		}
		if len(upA.Requests()) != 0 {
			t.Errorf("?vendor=b reached a")
		}
	})

	t.Run("errors", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
		g := mediaGateway(t, allowLoopback(), v)
		for _, c := range []struct {
			name, path, body string
			status           int
			code, param      string
		}{
			{"not json", "/images/text", `{"type":`, 400, "invalid_json", ""},
			{"wrong type", "/images/text", `{"type":"text","text":"hi"}`, 400, "invalid_value", "type"},
			{"no image_url", "/images/text", `{"type":"image_url"}`, 400, "missing_required_parameter", "image_url"},
			{"no url", "/images/text", `{"type":"image_url","image_url":{}}`, 400, "missing_required_parameter", "image_url.url"},
			{"unknown vendor", "/images/text?vendor=nope", describe(files.URL+"/cat.png", nil), 400, "unknown_vendor", "vendor"},
			{"404 image", "/images/text", describe(files.URL+"/missing.png", nil), 400, "media_download_failed", "image_url"},
			{"refused scheme", "/images/text", describe("file:///etc/passwd", nil), 400, "url_refused", "image_url"},
			{"bad headers", "/images/text", `{"type":"image_url","image_url":{"url":"` + files.URL + `/cat.png","headers":{"Host":"x"}}}`, 400, "invalid_content_part", "image_url"},
		} {
			t.Run(c.name, func(t *testing.T) {
				status, h, body := post(t, g.URL+c.path, c.body)
				assertOpenAIError(t, status, h, body, c.status, c.param)
				code, _, msg := apiErr(t, body)
				if code != c.code {
					t.Errorf("code %q, want %q: %s", code, c.code, msg)
				}
				if strings.Contains(msg, "messages[") {
					t.Errorf("the message names the internal chat request: %s", msg)
				}
			})
		}
		status, h, body := do(t, http.MethodGet, g.URL+"/images/text", "")
		assertOpenAIError(t, status, h, body, http.StatusMethodNotAllowed, "")
		if len(up.Requests()) != 0 {
			t.Errorf("the vendor got %d requests", len(up.Requests()))
		}

		noImages := vendorOf("v", config.TypeOpenAI, up.URL(), []string{"sk-v"}, "served-model")
		noImages.Models[0].Images = false
		g = mediaGateway(t, allowLoopback(), noImages)
		status, h, body = post(t, g.URL+"/images/text", describe(files.URL+"/cat.png", nil))
		assertOpenAIError(t, status, h, body, http.StatusBadRequest, "")
		if code, _, _ := apiErr(t, body); code != "unsupported_capability" {
			t.Errorf("code %q", code)
		}
	})
}

// TestImagesTextAuth: the describe endpoint takes keys like chat does.
func TestImagesTextAuth(t *testing.T) {
	files := startFiles(t, map[string]served{"/cat.png": {body: testPNG(t), ctype: "image/png"}})
	v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
	cfg := configOf(config.UnknownModelsPool, v)
	cfg.Media = allowLoopback()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	const key = "gr-test-master-key"
	srv, err := New(cfg, Options{MasterKey: key, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	gwURL, closeServer := serveHTTP(t, srv.Handler())
	t.Cleanup(func() {
		closeServer()
		srv.Close()
	})
	body := imageURLPart(files.URL+"/cat.png", nil)
	status, h, out := post(t, gwURL+"/v1/images/text", body)
	assertOpenAIError(t, status, h, out, http.StatusUnauthorized, "")
	if len(up.Requests()) != 0 || files.hitsOf("/cat.png") != 0 {
		t.Errorf("an unauthenticated request reached the vendor or the image")
	}
	req, _ := http.NewRequest(http.MethodPost, gwURL+"/v1/images/text", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(up.Requests()) != 1 {
		t.Errorf("with the key: %d, vendor saw %d", resp.StatusCode, len(up.Requests()))
	}
}

// TestMediaAudio: an audio_url WAV arrives as input_audio (format wav, the
// same bytes) at models that take audio; a pool without one answers 400,
// and a mixed pool routes audio only to the models that take it.
func TestMediaAudio(t *testing.T) {
	wav := testWAV()
	files := startFiles(t, map[string]served{"/hello.wav": {body: wav, ctype: "application/octet-stream"}})
	audioPart := `{"type":"audio_url","audio_url":{"url":"` + files.URL + `/hello.wav","headers":{"X-Audio-Token":"a-1"}}}`
	checkAudio := func(t *testing.T, p gjson.Result) {
		t.Helper()
		if p.Get("type").String() != "input_audio" || p.Get("input_audio.format").String() != "wav" {
			t.Fatalf("audio reached the vendor as %.200s", p.Raw)
		}
		if got, _ := base64.StdEncoding.DecodeString(p.Get("input_audio.data").String()); !bytes.Equal(got, wav) {
			t.Errorf("the vendor got %d bytes of audio, not the %d served", len(got), len(wav))
		}
		if strings.Contains(p.Raw, "a-1") {
			t.Errorf("the audio's headers reached the vendor")
		}
	}

	t.Run("gemini", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.GeminiCompat, config.TypeGemini, "")
		g := mediaGateway(t, allowLoopback(), v)
		status, _, out := post(t, g.URL+"/chat/completions", chatWithParts(audioPart))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, out)
		}
		checkAudio(t, sentPart(t, up, 0, 1))
		if files.lastHeader().Get("X-Audio-Token") != "a-1" {
			t.Errorf("the audio server did not get the headers")
		}
	})

	t.Run("openai model with audio", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, "")
		v.Models[0].Audio = true
		g := mediaGateway(t, allowLoopback(), v)
		status, _, out := post(t, g.URL+"/chat/completions", chatWithParts(audioPart))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, out)
		}
		checkAudio(t, sentPart(t, up, 0, 1))

		// input_audio from the SDK passes through as sent.
		up.Reset()
		_, err := sdk(g).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "my-alias",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("listen"),
				openai.InputAudioContentPart(openai.ChatCompletionContentPartInputAudioInputAudioParam{
					Data: base64.StdEncoding.EncodeToString(wav), Format: "wav"}),
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkAudio(t, sentPart(t, up, 0, 1))
	})

	t.Run("no model takes audio", func(t *testing.T) {
		v, up := mediaVendor(t, "v", fake.OpenAI, config.TypeOpenAI, "")
		g := mediaGateway(t, allowLoopback(), v)
		before := files.hitsOf("/hello.wav")
		status, h, out := post(t, g.URL+"/chat/completions", chatWithParts(audioPart))
		assertOpenAIError(t, status, h, out, http.StatusBadRequest, "")
		if code, _, msg := apiErr(t, out); code != "unsupported_capability" || !strings.Contains(msg, "audio") {
			t.Errorf("code %q message %q", code, msg)
		}
		if len(up.Requests()) != 0 || files.hitsOf("/hello.wav") != before {
			t.Errorf("the vendor (%d) or the audio server was reached", len(up.Requests()))
		}
	})

	t.Run("routed to the model with audio", func(t *testing.T) {
		a, upA := mediaVendor(t, "a", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
		b, upB := mediaVendor(t, "b", fake.GeminiCompat, config.TypeGemini, "")
		g := mediaGateway(t, allowLoopback(), a, b)
		for range 6 {
			status, h, out := post(t, g.URL+"/chat/completions", chatWithParts(audioPart))
			if status != http.StatusOK || h.Get("X-Genrouter-Vendor") != "b" {
				t.Fatalf("status %d vendor %q: %s", status, h.Get("X-Genrouter-Vendor"), out)
			}
		}
		if len(upA.Requests()) != 0 || len(upB.Requests()) != 6 {
			t.Errorf("a saw %d, b saw %d", len(upA.Requests()), len(upB.Requests()))
		}
		for _, r := range upB.Requests() {
			checkAudio(t, gjson.GetBytes(r.Body, "messages.0.content.1"))
		}
	})
}

// TestMediaFailoverNoRefetch: when the first vendor fails, the next attempt
// uses what was already downloaded: the image server is asked once, whether
// the next vendor is of the same kind (the request's own result is reused;
// the image forbids caching) or of another (the download cache serves it).
func TestMediaFailoverNoRefetch(t *testing.T) {
	pic := testPNG(t)
	files := startFiles(t, map[string]served{
		"/no-store.png":  {body: pic, ctype: "image/png", header: map[string]string{"Cache-Control": "no-store"}},
		"/cacheable.png": {body: pic, ctype: "image/png", header: map[string]string{"Cache-Control": "max-age=60"}},
	})
	for _, c := range []struct {
		name   string
		path   string
		flavor fake.Flavor
		typ    string
		inline string
	}{
		{"same kind", "/no-store.png", fake.OpenAI, config.TypeOpenAI, config.InlineAlways},
		{"another kind", "/cacheable.png", fake.GeminiCompat, config.TypeGemini, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			first, upFirst := mediaVendor(t, "first", fake.OpenAI, config.TypeOpenAI, config.InlineAlways)
			first.Priority = 1
			second, upSecond := mediaVendor(t, "second", c.flavor, c.typ, c.inline)
			second.Priority = 2
			upFirst.SetFault(func(*fake.Recorded) *fake.Fault { return &fake.Fault{Status: http.StatusInternalServerError} })
			cfg := configOf(config.UnknownModelsPool, first, second)
			cfg.Media = allowLoopback()
			cfg.Routing.Strategy = config.StrategyPriority
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			g := startGateway(t, cfg)

			var resp *http.Response
			got, err := sdk(g).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "my-alias",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
					openai.TextContentPart("what is this?"),
					openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: files.URL + c.path}),
				})},
			}, option.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Get("X-Genrouter-Vendor") != "second" || resp.Header.Get("X-Genrouter-Attempts") != "2" {
				t.Errorf("served by %q after %q attempts", resp.Header.Get("X-Genrouter-Vendor"), resp.Header.Get("X-Genrouter-Attempts"))
			}
			if !strings.Contains(got.Choices[0].Message.Content, "(1 images)") {
				t.Errorf("answer = %q", got.Choices[0].Message.Content)
			}
			inlined(t, sentPart(t, upFirst, 0, 1), "image/png", pic)
			inlined(t, sentPart(t, upSecond, 0, 1), "image/png", pic)
			if n := files.hitsOf(c.path); n != 1 {
				t.Errorf("the image was fetched %d times, want 1", n)
			}
		})
	}
}

// A bad allow_hosts entry refuses the config instead of being skipped.
func TestBadAllowHostsRefused(t *testing.T) {
	cfg := configOf(config.UnknownModelsPool, config.Vendor{Name: "mock", Type: config.TypeMock,
		Credentials: []config.Credential{{Name: "mock", Weight: 1}}, Models: []config.Model{{Name: "m", Weight: 1}}})
	cfg.Media.AllowHosts = []string{"10.0.0.0/33"}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "allow_hosts") {
		t.Fatalf("New = %v, want an allow_hosts error", err)
	}
}
