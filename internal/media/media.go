// Package media makes images, documents and audio in chat requests usable
// by every vendor: it downloads what vendors cannot fetch (through a fetcher
// that refuses non-public addresses), checks and corrects image types, turns
// documents into Markdown text, and converts audio. The server calls Process
// once per attempt, after a combination is chosen, with that vendor's Target.
package media

import (
	"fmt"
	"os/exec"
	"time"

	"github.com/genrouter/genrouter/internal/media/docs"
	"github.com/genrouter/genrouter/internal/openai"
)

// Policy is the gateway-wide configuration (media.* in the config file).
// Zero fields take the defaults below.
type Policy struct {
	// AllowHosts lists host names ("files.corp", "*.corp") and addresses or
	// CIDRs ("10.1.2.3", "10.0.0.0/8") exempt from the address policy.
	AllowHosts    []string
	MaxImageBytes int64         // per image
	MaxImages     int           // image parts per request
	MaxTotalBytes int64         // all media of one request, downloaded or inline
	FetchTimeout  time.Duration // per download
	MaxRedirects  int           // per download; negative: follow none
	Parallel      int           // concurrent downloads and conversions per request
	OnError       string        // OnErrorFail or OnErrorExplain

	MaxDocBytes     int64         // per document, before extraction
	MaxDecompressed int64         // bytes inflated from one document's archives
	MaxZipMembers   int           // archive members per document
	MaxZipDepth     int           // archive nesting; DOCX/XLSX/PPTX count as one level
	MaxZipRatio     int           // compression ratio above which a member is a bomb
	MaxPages        int           // PDF pages extracted
	MaxChars        int           // characters of text per document
	ExtractTimeout  time.Duration // per document extraction or audio conversion
	MaxAudioBytes   int64         // per audio file, downloaded or converted

	CacheEntries int   // downloads kept in memory
	CacheBytes   int64 // bytes of downloads kept in memory (extracted text gets a quarter more)

	// FFmpeg is the ffmpeg binary that converts ogg, flac, webm, m4a and aac
	// audio to wav. "" looks it up on PATH when New runs; if it is missing,
	// those formats are refused.
	FFmpeg string
}

// OnError values.
const (
	OnErrorFail    = "fail"    // a failed part fails the request with a 4xx
	OnErrorExplain = "explain" // a failed part becomes a note to the model
)

// Defaults.
const (
	DefaultMaxImageBytes  = 20 << 20
	DefaultMaxImages      = 16
	DefaultMaxTotalBytes  = 64 << 20
	DefaultFetchTimeout   = 15 * time.Second
	DefaultMaxRedirects   = 3
	DefaultParallel       = 4
	DefaultMaxDocBytes    = 32 << 20
	DefaultExtractTimeout = 30 * time.Second
	DefaultMaxAudioBytes  = 25 << 20
	DefaultCacheEntries   = 256
	DefaultCacheBytes     = 128 << 20
)

// WithDefaults fills zero fields with the defaults.
func (p Policy) WithDefaults() Policy {
	setI64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setI64(&p.MaxImageBytes, DefaultMaxImageBytes)
	setInt(&p.MaxImages, DefaultMaxImages)
	setI64(&p.MaxTotalBytes, DefaultMaxTotalBytes)
	setDur(&p.FetchTimeout, DefaultFetchTimeout)
	switch {
	case p.MaxRedirects == 0:
		p.MaxRedirects = DefaultMaxRedirects
	case p.MaxRedirects < 0:
		p.MaxRedirects = 0
	}
	setInt(&p.Parallel, DefaultParallel)
	if p.OnError == "" {
		p.OnError = OnErrorFail
	}
	setI64(&p.MaxDocBytes, DefaultMaxDocBytes)
	setI64(&p.MaxDecompressed, docs.DefaultMaxDecompressed)
	setInt(&p.MaxZipMembers, docs.DefaultMaxMembers)
	setInt(&p.MaxZipDepth, docs.DefaultMaxDepth)
	setInt(&p.MaxZipRatio, docs.DefaultMaxRatio)
	setInt(&p.MaxPages, docs.DefaultMaxPages)
	setInt(&p.MaxChars, docs.DefaultMaxChars)
	setDur(&p.ExtractTimeout, DefaultExtractTimeout)
	setI64(&p.MaxAudioBytes, DefaultMaxAudioBytes)
	setInt(&p.CacheEntries, DefaultCacheEntries)
	setI64(&p.CacheBytes, DefaultCacheBytes)
	return p
}

// Validate reports the first invalid field, for config checking.
func (p Policy) Validate() error {
	if p.OnError != "" && p.OnError != OnErrorFail && p.OnError != OnErrorExplain {
		return fmt.Errorf("on_error: %q is not %q or %q", p.OnError, OnErrorFail, OnErrorExplain)
	}
	if _, err := newAddrPolicy(p.AllowHosts); err != nil {
		return fmt.Errorf("allow_hosts: %v", err)
	}
	return nil
}

// Target is what one vendor can take (vendors[].media in the config).
type Target struct {
	// InlineImages: "auto" (default) inlines images as data: URLs unless the
	// vendor fetches URLs itself; "always"; "never" passes URLs on.
	InlineImages string
	// CanFetchURLs: the vendor downloads http(s) image URLs itself.
	CanFetchURLs bool
	// Documents: "extract" (default) replaces file parts with their text;
	// "passthrough" sends them on as file parts.
	Documents string
	// Audio: the vendor takes input_audio parts.
	Audio bool
	// HEIC: the vendor takes image/heic and image/heif.
	HEIC bool
}

// inline reports whether images must reach this vendor as data: URLs.
// Images fetched with client headers are always inlined where allowed: the
// vendor could not send the headers.
func (t Target) inline(withHeaders bool) bool {
	switch t.InlineImages {
	case "always":
		return true
	case "never":
		return false
	}
	return !t.CanFetchURLs || withHeaders
}

// Processor applies a Policy. It is safe for concurrent use; it holds the
// fetcher (with its connection pool) and the caches.
type Processor struct {
	pol    Policy
	fetch  *fetcher
	texts  *lru[textEntry] // extracted Markdown by content hash
	ffmpeg string
}

type textEntry string

func (t textEntry) size() int64 { return int64(len(t)) + 64 }

// New builds a Processor. Invalid AllowHosts entries (see Validate) are
// skipped; the config layer is expected to have validated them.
func New(p Policy) *Processor {
	p = p.WithDefaults()
	var hosts []string
	for _, h := range p.AllowHosts {
		if _, err := newAddrPolicy([]string{h}); err == nil {
			hosts = append(hosts, h)
		}
	}
	pol, _ := newAddrPolicy(hosts)
	pr := &Processor{pol: p, fetch: newFetcher(p, pol), texts: newLRU[textEntry](p.CacheEntries, p.CacheBytes/4)}
	pr.ffmpeg = p.FFmpeg
	if pr.ffmpeg == "" {
		pr.ffmpeg, _ = exec.LookPath("ffmpeg")
	} else if path, err := exec.LookPath(pr.ffmpeg); err == nil {
		pr.ffmpeg = path
	} else {
		pr.ffmpeg = ""
	}
	return pr
}

// CanConvertAudio reports whether ffmpeg was found.
func (p *Processor) CanConvertAudio() bool { return p.ffmpeg != "" }

// Needs reports whether a request has parts to process: image_url, file,
// file_url, input_audio and audio_url. It allocates nothing; a plain-text
// request costs one pass over its messages.
func Needs(req *openai.ChatRequest) bool {
	for i := range req.Messages {
		c := &req.Messages[i].Content
		if !c.IsParts {
			continue
		}
		for j := range c.Parts {
			switch c.Parts[j].Type {
			case "image_url", "file", "file_url", "input_audio", "audio_url":
				// Every image_url counts, not only http(s) and data: URLs:
				// other schemes must be refused, and headers stripped.
				return true
			}
		}
	}
	return false
}
