package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Media configures images, documents and audio in requests (media.* in the
// file). Zero values take the media package's defaults.
type Media struct {
	AllowHosts      []string
	MaxImageBytes   int64
	MaxImages       int
	MaxTotalBytes   int64
	FetchTimeout    time.Duration
	MaxRedirects    int
	Parallel        int
	OnError         string // fail | explain
	MaxDocBytes     int64
	MaxDecompressed int64
	MaxZipMembers   int
	MaxZipDepth     int
	MaxPages        int
	MaxChars        int
	ExtractTimeout  time.Duration
	MaxAudioBytes   int64
	CacheEntries    int
	CacheBytes      int64
	FFmpeg          string
	// DescribeModel and DescribePrompt configure POST /v1/images/text;
	// an empty model routes over every chat model.
	DescribeModel, DescribePrompt string
}

// Per-vendor media settings (Vendor.InlineImages, Vendor.Documents).
const (
	InlineAuto   = "auto"
	InlineAlways = "always"
	InlineNever  = "never"
	DocsExtract  = "extract"
	DocsPass     = "passthrough"
)

func (m *Media) validate() error {
	switch m.OnError {
	case "", "fail", "explain":
	default:
		return fmt.Errorf("media.on_error: unknown value %q (want fail or explain)", m.OnError)
	}
	return nil
}

func (d *yamlDecoder) media(n *yaml.Node) (Media, error) {
	var m Media
	f, err := d.fields(n, "media", false, "allow_hosts", "max_image_bytes", "max_images", "max_total_bytes",
		"fetch_timeout", "max_redirects", "parallel", "on_error", "max_doc_bytes", "max_decompressed",
		"max_zip_members", "max_zip_depth", "max_pages", "max_chars", "extract_timeout", "max_audio_bytes",
		"cache_entries", "cache_bytes", "ffmpeg", "describe_model", "describe_prompt")
	if err != nil {
		return m, err
	}
	if m.AllowHosts, err = d.stringList(f["allow_hosts"], "media.allow_hosts"); err != nil {
		return m, err
	}
	for _, s := range []struct {
		key string
		dst *string
	}{{"on_error", &m.OnError}, {"ffmpeg", &m.FFmpeg}, {"describe_model", &m.DescribeModel}, {"describe_prompt", &m.DescribePrompt}} {
		if *s.dst, err = d.string(f[s.key], "media."+s.key); err != nil {
			return m, err
		}
	}
	for _, s := range []struct {
		key string
		dst *int64
	}{{"max_image_bytes", &m.MaxImageBytes}, {"max_total_bytes", &m.MaxTotalBytes}, {"max_doc_bytes", &m.MaxDocBytes},
		{"max_decompressed", &m.MaxDecompressed}, {"max_audio_bytes", &m.MaxAudioBytes}, {"cache_bytes", &m.CacheBytes}} {
		v, err := d.count(f[s.key], "media."+s.key)
		if err != nil {
			return m, err
		}
		*s.dst = int64(v)
	}
	for _, s := range []struct {
		key string
		dst *int
	}{{"max_images", &m.MaxImages}, {"parallel", &m.Parallel}, {"max_zip_members", &m.MaxZipMembers},
		{"max_zip_depth", &m.MaxZipDepth}, {"max_pages", &m.MaxPages}, {"max_chars", &m.MaxChars}, {"cache_entries", &m.CacheEntries}} {
		if *s.dst, err = d.count(f[s.key], "media."+s.key); err != nil {
			return m, err
		}
	}
	if r, set, err := d.int(f["max_redirects"], "media.max_redirects"); err != nil {
		return m, err
	} else if set {
		m.MaxRedirects = int(r)
		if r == 0 {
			m.MaxRedirects = -1 // "0" means none; the zero value means the default
		}
	}
	for _, s := range []struct {
		key string
		dst *time.Duration
	}{{"fetch_timeout", &m.FetchTimeout}, {"extract_timeout", &m.ExtractTimeout}} {
		if *s.dst, err = d.duration(f[s.key], "media."+s.key); err != nil {
			return m, err
		}
	}
	return m, nil
}
