package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidwall/gjson"

	"github.com/genrouter/genrouter/internal/media/docs"
	"github.com/genrouter/genrouter/internal/openai"
)

// job is one content part that may need work.
type job struct {
	param      string // messages[i].content[j]
	start, end int    // the part's bytes in the body
	typ        string
	fields     map[string]json.RawMessage // the part
	obj        map[string]json.RawMessage // its payload object (image_url, file, …)
	url        string
	headers    http.Header
	work       func(ctx context.Context) ([]byte, *failure)
	out        []byte // the replacement part; nil keeps the client's bytes
	fail       *failure
	cancelled  bool
}

// request is the state of one Process call.
type request struct {
	p       *Processor
	t       Target
	total   atomic.Int64
	mu      sync.Mutex
	flights map[string]*flight
}

// flight shares one download among the parts of a request naming the same URL.
type flight struct {
	done chan struct{}
	dl   download
	err  error
}

// Process rewrites a chat request body for one vendor. It returns the body
// with only the affected content parts replaced (every other byte kept), or
// an *openai.Error (400) naming the part, or ctx.Err() when ctx ends first.
// Bodies without such parts come back unchanged (the same slice).
func (p *Processor) Process(ctx context.Context, body []byte, t Target) ([]byte, error) {
	jobs, err := findParts(body)
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return body, nil
	}
	r := &request{p: p, t: t, flights: map[string]*flight{}}
	images := 0
	for _, j := range jobs {
		if j.typ == "image_url" {
			images++
		}
		j.fail = r.prepare(j)
	}
	if images > p.pol.MaxImages {
		return nil, openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, codeTooMany, "messages",
			"the request has "+strconv.Itoa(images)+" images; at most "+strconv.Itoa(p.pol.MaxImages)+" are allowed")
	}
	for _, j := range jobs {
		if j.fail != nil && j.fail.hard {
			return nil, j.fail.apiError(j.param)
		}
	}
	r.run(ctx, jobs)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Hard failures first (a refused redirect, say), then the first other one.
	for _, hard := range []bool{true, false} {
		for _, j := range jobs {
			if j.fail == nil || j.cancelled || j.fail.hard != hard {
				continue
			}
			if hard || p.pol.OnError != OnErrorExplain {
				return nil, j.fail.apiError(j.param)
			}
			j.out = textPart(j.fail.note(j.param))
		}
	}
	return splice(body, jobs), nil
}

// run does the jobs' work on at most Parallel goroutines. Under "fail" the
// first failure cancels the rest: the request is lost anyway.
func (r *request) run(ctx context.Context, jobs []*job) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var todo []*job
	for _, j := range jobs {
		if j.work != nil && j.fail == nil {
			todo = append(todo, j)
		}
	}
	queue := make(chan *job)
	var wg sync.WaitGroup
	for i := 0; i < min(r.p.pol.Parallel, len(todo)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if ctx.Err() != nil {
					j.cancelled, j.fail = true, &failure{code: codeDownload, text: "cancelled"}
					continue
				}
				j.out, j.fail = j.work(ctx)
				if j.fail != nil && ctx.Err() != nil {
					j.cancelled = true
				}
				if j.fail != nil && !j.cancelled && (j.fail.hard || r.p.pol.OnError != OnErrorExplain) {
					cancel()
				}
			}
		}()
	}
	for _, j := range todo {
		queue <- j
	}
	close(queue)
	wg.Wait()
}

// findParts walks messages[*].content[*] for the part types handled here.
// gjson gives each part's offsets in the body; duplicate keys resolve to the
// last one, as encoding/json (and so the gateway's own parse) does.
func findParts(body []byte) ([]*job, error) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, nil
	}
	msgs := lastKey(root, "messages")
	if !msgs.IsArray() {
		return nil, nil
	}
	var jobs []*job
	mi := 0
	msgs.ForEach(func(_, m gjson.Result) bool {
		content := lastKey(m, "content")
		if content.IsArray() {
			pi := 0
			content.ForEach(func(_, part gjson.Result) bool {
				typ := lastKey(part, "type").String()
				switch typ {
				case "image_url", "file", "file_url", "input_audio", "audio_url":
					jobs = append(jobs, &job{
						param: "messages[" + strconv.Itoa(mi) + "].content[" + strconv.Itoa(pi) + "]",
						start: part.Index, end: part.Index + len(part.Raw), typ: typ,
					})
				}
				pi++
				return true
			})
		}
		mi++
		return true
	})
	for _, j := range jobs {
		if j.start <= 0 || j.end > len(body) || (body[j.start] != '{') {
			return nil, openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "invalid_json", j.param, j.param+": the content part could not be read")
		}
		if err := json.Unmarshal(body[j.start:j.end], &j.fields); err != nil {
			return nil, openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, "invalid_json", j.param, j.param+": the content part is not valid JSON")
		}
	}
	return jobs, nil
}

func lastKey(obj gjson.Result, key string) gjson.Result {
	var v gjson.Result
	if !obj.IsObject() {
		return v
	}
	obj.ForEach(func(k, val gjson.Result) bool {
		if k.String() == key {
			v = val
		}
		return true
	})
	return v
}

// splice writes the body with each changed part replaced.
func splice(body []byte, jobs []*job) []byte {
	grow, changed := 0, false
	for _, j := range jobs {
		if j.out != nil {
			grow += len(j.out) - (j.end - j.start)
			changed = true
		}
	}
	if !changed {
		return body
	}
	out := make([]byte, 0, len(body)+grow)
	last := 0
	for _, j := range jobs {
		if j.out == nil {
			continue
		}
		out = append(out, body[last:j.start]...)
		out = append(out, j.out...)
		last = j.end
	}
	return append(out, body[last:]...)
}

// prepare reads a part and decides what it needs, refusing at once what the
// policy refuses. Work that takes time (downloads, extraction) is left in
// j.work for run.
func (r *request) prepare(j *job) *failure {
	p, t := r.p, r.t
	switch j.typ {
	case "input_audio":
		if !t.Audio {
			return &failure{hard: true, code: codeAudioVendor, text: "the model's vendor does not take audio input"}
		}
		return nil
	case "audio_url":
		if !t.Audio {
			return &failure{hard: true, code: codeAudioVendor, text: "the model's vendor does not take audio input"}
		}
	case "file":
		if t.Documents == "passthrough" {
			return nil
		}
	}
	key := j.typ
	raw := j.fields[key]
	if len(raw) == 0 {
		return invalidPart("the part has no " + key + " object")
	}
	if raw[0] == '"' && (j.typ == "image_url" || j.typ == "file_url" || j.typ == "audio_url") {
		// The short form: "image_url": "https://…".
		var u string
		json.Unmarshal(raw, &u)
		j.obj = map[string]json.RawMessage{"url": raw}
		j.url = u
	} else if err := json.Unmarshal(raw, &j.obj); err != nil || j.obj == nil {
		return invalidPart(key + " must be an object")
	}
	if j.typ == "file" {
		return r.prepareFile(j)
	}
	if j.url == "" {
		if err := json.Unmarshal(j.obj["url"], &j.url); err != nil || j.url == "" {
			return invalidPart(key + ".url is missing or not a string")
		}
	}
	if h, ok := j.obj["headers"]; ok && string(h) != "null" {
		var m map[string]any
		if err := json.Unmarshal(h, &m); err != nil {
			return invalidPart(key + ".headers must be an object of strings")
		}
		hh, err := parseHeaders(m)
		if err != nil {
			return invalidPart(key + ".headers: " + err.Error())
		}
		j.headers = hh
	}
	what := map[string]string{"image_url": "image", "file_url": "file", "audio_url": "audio"}[j.typ]
	if isDataURL(j.url) {
		switch j.typ {
		case "image_url":
			j.work = func(context.Context) ([]byte, *failure) { return r.dataImage(j) }
		case "audio_url":
			j.work = func(ctx context.Context) ([]byte, *failure) {
				data, _, f := r.decodeData(j.url, p.pol.MaxAudioBytes, "audio")
				if f != nil {
					return nil, f
				}
				return r.audio(ctx, data)
			}
		default:
			return invalidPart("file_url must be an http or https URL; send inline files as a file part")
		}
		return nil
	}
	u, err := url.Parse(j.url)
	if err != nil {
		return downloadFailure(what, &refusedError{reason: "a malformed URL"})
	}
	if err := p.fetch.checkURL(u); err != nil {
		return downloadFailure(what, err)
	}
	switch j.typ {
	case "image_url":
		if !t.inline(j.headers != nil) {
			// The vendor fetches it; the headers never leave the gateway.
			if _, ok := j.obj["headers"]; ok {
				j.out = j.rebuild(j.url)
			}
			return nil
		}
		j.work = func(ctx context.Context) ([]byte, *failure) {
			dl, err := r.get(ctx, j.url, j.headers, p.pol.MaxImageBytes)
			if err != nil {
				return nil, downloadFailure("image", err)
			}
			return r.imagePart(j, dl.data)
		}
	case "file_url":
		j.work = func(ctx context.Context) ([]byte, *failure) {
			dl, err := r.get(ctx, j.url, j.headers, p.pol.MaxDocBytes)
			if err != nil {
				return nil, downloadFailure("file", err)
			}
			name := stringField(j.obj, "filename")
			if name == "" {
				name = dl.name
			}
			if t.Documents == "passthrough" {
				return filePart(name, fileMIME(dl.data, dl.ctype, name), dl.data), nil
			}
			return r.document(ctx, j, dl.data, name, dl.ctype)
		}
	case "audio_url":
		j.work = func(ctx context.Context) ([]byte, *failure) {
			dl, err := r.get(ctx, j.url, j.headers, p.pol.MaxAudioBytes)
			if err != nil {
				return nil, downloadFailure("audio", err)
			}
			return r.audio(ctx, dl.data)
		}
	}
	return nil
}

// prepareFile handles {"type":"file","file":{"file_data","filename"}} for
// vendors that get text instead.
func (r *request) prepareFile(j *job) *failure {
	name := stringField(j.obj, "filename")
	data := stringField(j.obj, "file_data")
	if data == "" {
		if stringField(j.obj, "file_id") != "" {
			return &failure{code: codeFile, text: "the file " + quoteName(name) + "is given by file_id, which only the vendor that stored it can read; send file_data instead"}
		}
		return invalidPart("file.file_data is missing")
	}
	j.work = func(ctx context.Context) ([]byte, *failure) {
		b, declared, f := r.decodeData(data, r.p.pol.MaxDocBytes, strings.TrimSpace("file "+quoteName(name)))
		if f != nil {
			return nil, f
		}
		return r.document(ctx, j, b, name, declared)
	}
	return nil
}

// get downloads through the fetcher, once per URL and headers per request,
// and charges the bytes to the request's total.
func (r *request) get(ctx context.Context, u string, h http.Header, limit int64) (download, error) {
	key := cacheKey(u, h)
	r.mu.Lock()
	f, ok := r.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		r.flights[key] = f
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-f.done:
		case <-ctx.Done():
			return download{}, ctx.Err()
		}
		if f.err == nil && int64(len(f.dl.data)) > limit {
			return download{}, tooLarge(limit)
		}
		return f.dl, f.err
	}
	defer close(f.done)
	f.dl, f.err = r.p.fetch.get(ctx, u, h, limit)
	if f.err == nil {
		f.err = r.charge(int64(len(f.dl.data)))
	}
	return f.dl, f.err
}

// charge counts bytes against MaxTotalBytes.
func (r *request) charge(n int64) error {
	if r.total.Add(n) > r.p.pol.MaxTotalBytes {
		return &fetchError{tooLarge: true, reason: "it is larger than what is left of the request's limit of " + sizeString(r.p.pol.MaxTotalBytes) + " for all media"}
	}
	return nil
}

// dataImage checks an inline image: size, real type, declared type. Only
// the first bytes are decoded: a correct image passes untouched, a wrong
// declared type (or a data: prefix vendors would not parse: parameters,
// capitals) is fixed by rewriting the prefix alone. A payload that is not
// plain padded standard base64 anywhere along its length (line breaks,
// URL-safe letters, no padding) is decoded whole and sent on in the
// standard form, which every vendor reads.
func (r *request) dataImage(j *job) ([]byte, *failure) {
	declared, b64, payload, ok := splitDataURL(j.url)
	if !ok {
		return nil, &failure{code: codeInvalidImage, text: "the image data URL is malformed"}
	}
	if !b64 || !stdBase64(payload) {
		data, _, f := r.decodeData(j.url, r.p.pol.MaxImageBytes, "image")
		if f != nil {
			return nil, f
		}
		return r.imagePart(j, data)
	}
	size := int64(base64.StdEncoding.DecodedLen(len(payload)))
	if size > r.p.pol.MaxImageBytes+3 {
		return nil, downloadFailure("image", tooLarge(r.p.pol.MaxImageBytes))
	}
	head, err := base64.StdEncoding.DecodeString(payload[:min(len(payload), 64)&^3])
	if err != nil {
		return nil, &failure{code: codeInvalidImage, text: "the image is not valid base64"}
	}
	if err := r.charge(size); err != nil {
		return nil, downloadFailure("image", err)
	}
	typ, f := r.imageType(head)
	if f != nil {
		return nil, f
	}
	prefix := "data:" + typ + ";base64,"
	_, hasHeaders := j.obj["headers"]
	if typ == declared && !hasHeaders && strings.HasPrefix(j.url, prefix) {
		return nil, nil
	}
	return j.rebuild(prefix + payload), nil
}

// stdBase64 reports whether s is padded standard base64 with nothing else
// in it, without decoding (an inline image can be megabytes).
func stdBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	body := strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// imageType checks sniffed bytes against what the vendor takes.
func (r *request) imageType(head []byte) (string, *failure) {
	typ := sniffImage(head)
	switch {
	case typ == "":
		return "", &failure{code: codeImageType, text: "the image is not a PNG, JPEG, GIF or WebP image"}
	case strings.HasPrefix(typ, "unsupported:"):
		return "", &failure{code: codeImageType, text: "the image is " + strings.TrimPrefix(typ, "unsupported:") + "; only PNG, JPEG, GIF and WebP images are accepted"}
	case (typ == "image/heic" || typ == "image/heif") && !r.t.HEIC:
		return "", &failure{code: codeImageType, text: "the image is HEIC/HEIF, which the model's vendor does not take; send PNG, JPEG, GIF or WebP"}
	}
	return typ, nil
}

// imagePart makes an image_url part with the bytes inlined.
func (r *request) imagePart(j *job, data []byte) ([]byte, *failure) {
	typ, f := r.imageType(data)
	if f != nil {
		return nil, f
	}
	return j.rebuild("data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(data)), nil
}

// rebuild is the part with its payload's url replaced and headers dropped.
func (j *job) rebuild(u string) []byte {
	obj := make(map[string]json.RawMessage, len(j.obj))
	for k, v := range j.obj {
		if k != "headers" {
			obj[k] = v
		}
	}
	obj["url"] = marshal(u)
	fields := make(map[string]json.RawMessage, len(j.fields))
	for k, v := range j.fields {
		fields[k] = v
	}
	fields[j.typ] = marshal(obj)
	return marshal(fields)
}

// decodeData decodes a data: URL, or bare base64 (OpenAI's file_data takes
// both), within limit bytes.
func (r *request) decodeData(s string, limit int64, what string) ([]byte, string, *failure) {
	code := codeFile
	switch what {
	case "image":
		code = codeInvalidImage
	case "audio":
		code = codeInvalidAudio
	}
	declared, b64, payload, ok := splitDataURL(s)
	if !ok {
		if isDataURL(s) {
			return nil, "", &failure{code: code, text: "the " + what + " data URL is malformed"}
		}
		declared, b64, payload = "", true, s
	}
	if !b64 {
		dec, err := url.PathUnescape(payload)
		if err != nil {
			return nil, "", &failure{code: code, text: "the " + what + " data URL is malformed"}
		}
		payload = dec
	}
	if int64(len(payload))*3/4 > limit+3 {
		return nil, "", downloadFailure(what, tooLarge(limit))
	}
	var data []byte
	if b64 {
		clean := strings.Map(func(c rune) rune {
			if c == '\n' || c == '\r' || c == ' ' || c == '\t' {
				return -1
			}
			return c
		}, payload)
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if data, err = enc.DecodeString(clean); err == nil {
				break
			}
		}
		if err != nil {
			return nil, "", &failure{code: code, text: "the " + what + " is not valid base64"}
		}
	} else {
		data = []byte(payload)
	}
	if int64(len(data)) > limit {
		return nil, "", downloadFailure(what, tooLarge(limit))
	}
	if err := r.charge(int64(len(data))); err != nil {
		return nil, "", downloadFailure(what, err)
	}
	return data, declared, nil
}

// isDataURL reports whether s has the data: scheme, in any case, without
// copying s (an inline image can be megabytes).
func isDataURL(s string) bool { return len(s) >= 5 && strings.EqualFold(s[:5], "data:") }

// splitDataURL splits "data:type;base64,payload".
func splitDataURL(s string) (typ string, b64 bool, payload string, ok bool) {
	if !isDataURL(s) {
		return "", false, "", false
	}
	meta, payload, ok := strings.Cut(s[5:], ",")
	if !ok {
		return "", false, "", false
	}
	params := strings.Split(meta, ";")
	typ = strings.ToLower(strings.TrimSpace(params[0]))
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			b64 = true
		}
	}
	return typ, b64, payload, true
}

// document turns a file into a text part (or an image part, for an image
// sent as a file).
func (r *request) document(ctx context.Context, j *job, data []byte, name, declared string) ([]byte, *failure) {
	if typ := sniffImage(data); typ != "" && !strings.HasPrefix(typ, "unsupported:") {
		f := &job{typ: "image_url", fields: map[string]json.RawMessage{"type": marshal("image_url")}, obj: map[string]json.RawMessage{}}
		return r.imagePart(f, data)
	}
	p := r.p
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:]) + "\x00" + path.Ext(name) + "\x00" + declared
	md, ok := p.texts.get(key)
	if !ok {
		ectx, cancel := context.WithTimeout(ctx, p.pol.ExtractTimeout)
		defer cancel()
		s, err := docs.Extract(ectx, data, name, declared, docs.Limits{
			MaxDecompressed: p.pol.MaxDecompressed, MaxMembers: p.pol.MaxZipMembers, MaxDepth: p.pol.MaxZipDepth,
			MaxRatio: p.pol.MaxZipRatio, MaxPages: p.pol.MaxPages, MaxChars: p.pol.MaxChars,
		})
		var de *docs.Error
		switch {
		case errors.As(err, &de):
			code := codeFile
			if de.Kind == docs.KindUnsupported {
				code = codeFileType
			}
			return nil, &failure{code: code, text: "the file " + quoteName(name) + "could not be read: " + de.Reason}
		case err != nil:
			return nil, &failure{code: codeFile, text: "the file " + quoteName(name) + "could not be read (cancelled)"}
		}
		md = textEntry(s)
		p.texts.put(key, md)
	}
	display := name
	if display == "" {
		display = "(unnamed)"
	}
	return textPart("File: " + display + "\n\n" + string(md)), nil
}

// quoteName is `"name" ` or "" (note the trailing space).
func quoteName(name string) string {
	if name == "" {
		return ""
	}
	return strconv.Quote(name) + " "
}

// fileMIME is the type a passthrough file part declares: the server's, unless
// it is one that says nothing (application/octet-stream, application/zip
// for an Office file, none at all), which vendors refuse; then the file's
// name and bytes tell.
func fileMIME(data []byte, declared, name string) string {
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return "application/pdf"
	}
	t, _, err := mime.ParseMediaType(declared)
	if err == nil && t != "" && !vagueMIME[strings.ToLower(t)] {
		return strings.ToLower(t)
	}
	if byExt := mimeByExt[strings.ToLower(path.Ext(name))]; byExt != "" {
		return byExt
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		// An Office file is a ZIP whose member names (in clear in the
		// local headers) say which.
		for _, m := range [...]struct{ member, ext string }{
			{"word/document.xml", ".docx"}, {"xl/workbook.xml", ".xlsx"}, {"ppt/presentation.xml", ".pptx"},
		} {
			if bytes.Contains(data, []byte(m.member)) {
				return mimeByExt[m.ext]
			}
		}
	}
	if err == nil && t != "" {
		return strings.ToLower(t)
	}
	t, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	return t
}

// vagueMIME are types servers send for any download.
var vagueMIME = map[string]bool{
	"application/octet-stream": true, "binary/octet-stream": true, "application/binary": true,
	"application/zip": true, "application/x-zip-compressed": true, "application/download": true,
	"application/force-download": true, "application/x-download": true,
}

// mimeByExt names the document types a file name's extension says.
var mimeByExt = map[string]string{
	".pdf":  "application/pdf",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".csv":  "text/csv", ".tsv": "text/tab-separated-values", ".txt": "text/plain",
	".md": "text/markdown", ".markdown": "text/markdown", ".html": "text/html", ".htm": "text/html",
	".json": "application/json", ".xml": "application/xml", ".zip": "application/zip",
}

func stringField(obj map[string]json.RawMessage, k string) string {
	var s string
	json.Unmarshal(obj[k], &s)
	return s
}

// marshal is json.Marshal without HTML escaping: text goes to a model, not
// a browser, and should not grow.
func marshal(v any) json.RawMessage {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err) // only maps of RawMessage and strings are encoded here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func textPart(s string) []byte {
	return append(append([]byte(`{"type":"text","text":`), marshal(s)...), '}')
}

func filePart(name, typ string, data []byte) []byte {
	file := map[string]string{"file_data": "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(data)}
	if name != "" {
		file["filename"] = name
	}
	return append(append([]byte(`{"type":"file","file":`), marshal(file)...), '}')
}

// RedactHeaders returns a chat request body fit for a log: the values of
// every image_url, audio_url and file_url part's "headers" (the client's
// credentials for that host, which are never logged) replaced by
// "[redacted]". Parts without headers, and every other byte, are kept. A
// body whose parts cannot be read is not returned at all.
func RedactHeaders(body []byte) []byte {
	if openai.TooDeep(body) {
		return []byte("[not logged: the body nests too deep to be masked]")
	}
	jobs, err := findParts(body)
	if err != nil {
		return []byte("[not logged: the body's content parts could not be read to be masked]")
	}
	for _, j := range jobs {
		var obj map[string]json.RawMessage
		if json.Unmarshal(j.fields[j.typ], &obj) != nil {
			continue // the short form, a string: no headers
		}
		h, ok := obj["headers"]
		if !ok {
			continue
		}
		var hs map[string]json.RawMessage
		if json.Unmarshal(h, &hs) == nil && hs != nil {
			for k := range hs {
				hs[k] = marshal("[redacted]")
			}
			obj["headers"] = marshal(hs)
		} else {
			obj["headers"] = marshal("[redacted]")
		}
		// Rebuilt from the decoded maps, so no repeated key keeps a copy.
		fields := make(map[string]json.RawMessage, len(j.fields))
		for k, v := range j.fields {
			fields[k] = v
		}
		fields[j.typ] = marshal(obj)
		j.out = marshal(fields)
	}
	return splice(body, jobs)
}
