package server

import (
	"fmt"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/media"
)

// mediaFor returns the media processor for a config, keeping the current
// one (and its download cache) when the media settings did not change.
// mu is held.
func (s *Server) mediaFor(m config.Media) (*media.Processor, error) {
	key := fmt.Sprintf("%+v", m)
	if s.media != nil && key == s.mediaCfg {
		return s.media, nil
	}
	p := media.Policy{
		AllowHosts: m.AllowHosts, MaxImageBytes: m.MaxImageBytes, MaxImages: m.MaxImages, MaxTotalBytes: m.MaxTotalBytes,
		FetchTimeout: m.FetchTimeout, MaxRedirects: m.MaxRedirects, Parallel: m.Parallel, OnError: m.OnError,
		MaxDocBytes: m.MaxDocBytes, MaxDecompressed: m.MaxDecompressed, MaxZipMembers: m.MaxZipMembers,
		MaxZipDepth: m.MaxZipDepth, MaxPages: m.MaxPages, MaxChars: m.MaxChars, ExtractTimeout: m.ExtractTimeout,
		MaxAudioBytes: m.MaxAudioBytes, CacheEntries: m.CacheEntries, CacheBytes: m.CacheBytes, FFmpeg: m.FFmpeg,
	}.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("media: %w", err) // a bad allow_hosts entry is refused, not skipped
	}
	s.media, s.mediaCfg = media.New(p), key
	return s.media, nil
}

// mediaTarget says what a vendor can take: whether it fetches image URLs
// itself, takes HEIC, and how documents go to it.
func mediaTarget(v config.Vendor) media.Target {
	t := media.Target{InlineImages: v.InlineImages, Documents: v.Documents}
	switch v.Type {
	case config.TypeOpenAI, config.TypeAzure, config.TypeAnthropic, config.TypeMock:
		t.CanFetchURLs = true
	}
	t.HEIC = v.Type == config.TypeGemini && v.API == config.APINative
	return t
}
