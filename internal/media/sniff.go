package media

import (
	"bytes"
	"strings"
)

// sniffImage tells an image's type from its first bytes. Only the types
// vendors take are named; known others come back as "unsupported:<type>".
func sniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs":
			return "image/heic"
		case "mif1", "msf1":
			return "image/heif"
		case "avif", "avis":
			return "unsupported:AVIF"
		}
	case bytes.HasPrefix(b, []byte("BM")) && len(b) > 14:
		return "unsupported:BMP"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "unsupported:TIFF"
	case bytes.HasPrefix(b, []byte("\x00\x00\x01\x00")):
		return "unsupported:ICO"
	}
	t := strings.ToLower(string(bytes.TrimSpace(b[:min(len(b), 512)])))
	switch {
	case strings.Contains(t, "<svg"):
		return "unsupported:SVG"
	case strings.HasPrefix(t, "<!doctype html"), strings.HasPrefix(t, "<html"):
		return "unsupported:HTML (a web page, not an image)"
	case strings.HasPrefix(t, "%pdf-"):
		return "unsupported:PDF"
	}
	return ""
}

// sniffAudio tells an audio file's format: "wav" and "mp3" go to vendors as
// they are; the rest need converting.
func sniffAudio(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "wav"
	case bytes.HasPrefix(b, []byte("ID3")):
		return "mp3"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0:
		// MPEG frame sync; layer bits 00 are ADTS AAC, not MP3.
		if b[1]&0x06 == 0 {
			return "aac"
		}
		return "mp3"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "ogg"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "flac"
	case bytes.HasPrefix(b, []byte("\x1a\x45\xdf\xa3")):
		return "webm"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "m4a"
	case len(b) >= 12 && string(b[:4]) == "FORM" && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "aiff"
	}
	return ""
}

// demuxer is the ffmpeg input format for a sniffed audio format: naming it
// keeps ffmpeg from probing untrusted input as anything else.
func demuxer(format string) string {
	switch format {
	case "webm":
		return "matroska"
	case "m4a":
		return "mov"
	}
	return format
}
