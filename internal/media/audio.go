package media

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// audio turns fetched audio into an input_audio part: wav and mp3 as they
// are, other formats converted to wav by ffmpeg when it is installed.
func (r *request) audio(ctx context.Context, data []byte) ([]byte, *failure) {
	format := sniffAudio(data)
	switch format {
	case "wav", "mp3":
	case "":
		return nil, &failure{code: codeAudioFormat, text: "the audio is not in a recognised format (wav, mp3, ogg, flac, webm, m4a)"}
	default:
		if r.p.ffmpeg == "" {
			return nil, &failure{code: codeAudioFormat, text: "the audio is " + format + ", which the vendor does not take, and it cannot be converted here (ffmpeg is not installed); send wav or mp3"}
		}
		wav, err := r.p.convert(ctx, data, format)
		if err != nil {
			return nil, &failure{code: codeAudioFormat, text: "the " + format + " audio could not be converted to wav (" + err.Error() + ")"}
		}
		data, format = wav, "wav"
	}
	part := map[string]any{"type": "input_audio", "input_audio": map[string]string{
		"data": base64.StdEncoding.EncodeToString(data), "format": format}}
	return marshal(part), nil
}

// convert runs ffmpeg on temp files (removed whatever happens) under the
// extraction time limit. Input format and protocol are pinned so untrusted
// bytes cannot make ffmpeg read anything but the one file.
func (p *Processor) convert(ctx context.Context, data []byte, format string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "genrouter-audio-")
	if err != nil {
		return nil, errors.New("no temporary space")
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in."+format), filepath.Join(dir, "out.wav")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, errors.New("no temporary space")
	}
	ctx, cancel := context.WithTimeout(ctx, p.pol.ExtractTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-protocol_whitelist", "file", "-f", demuxer(format), "-i", in,
		"-vn", "-ac", "1", "-ar", "24000", "-c:a", "pcm_s16le", "-f", "wav", "-y", out)
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, errors.New("it took too long")
		}
		return nil, errors.New("ffmpeg could not read it")
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, errors.New("ffmpeg wrote nothing")
	}
	defer f.Close()
	wav, err := io.ReadAll(io.LimitReader(f, p.pol.MaxAudioBytes+1))
	if err != nil || int64(len(wav)) > p.pol.MaxAudioBytes {
		return nil, errors.New("the result is larger than " + sizeString(p.pol.MaxAudioBytes))
	}
	if sniffAudio(wav) != "wav" {
		return nil, errors.New("ffmpeg wrote no wav")
	}
	return wav, nil
}
