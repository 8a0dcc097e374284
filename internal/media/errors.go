package media

import (
	"errors"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// failure is why one part could not be used. text is addressed to both the
// client and (with OnError "explain") the model, so it names nothing of the
// gateway's network.
type failure struct {
	// hard failures always fail the request: the address policy refused a
	// URL, or the request itself is wrong (a malformed part, too many
	// images, audio for a vendor without audio).
	hard bool
	code string
	text string // "the image could not be downloaded (the server answered 404 Not Found)"
}

func (f *failure) apiError(param string) *openai.Error {
	return openai.NewError(http.StatusBadRequest, openai.TypeInvalidRequest, f.code, param, param+": "+f.text)
}

// note is the text part that replaces a failed part under OnError "explain".
func (f *failure) note(param string) string {
	return "[Note from the gateway: " + f.text + " (" + param + "), so it is not included.]"
}

// Error codes.
const (
	codeRefused      = "url_refused"
	codeInvalidPart  = "invalid_content_part"
	codeTooMany      = "too_many_images"
	codeDownload     = "media_download_failed"
	codeTooLarge     = "media_too_large"
	codeImageType    = "unsupported_image_type"
	codeInvalidImage = "invalid_image"
	codeInvalidAudio = "invalid_audio"
	codeFile         = "invalid_file"
	codeFileType     = "unsupported_file_type"
	codeAudioVendor  = "audio_not_supported"
	codeAudioFormat  = "unsupported_audio_format"
)

func invalidPart(text string) *failure {
	return &failure{hard: true, code: codeInvalidPart, text: text}
}

// downloadFailure describes a failed download of what ("the image").
func downloadFailure(what string, err error) *failure {
	var re *refusedError
	if errors.As(err, &re) {
		return &failure{hard: true, code: codeRefused,
			text: "the " + what + " URL is refused: it names " + re.reason + ", and only public addresses are fetched"}
	}
	var fe *fetchError
	if errors.As(err, &fe) {
		if fe.tooLarge {
			return &failure{code: codeTooLarge, text: "the " + what + " is too large (" + fe.reason + ")"}
		}
		return &failure{code: codeDownload, text: "the " + what + " could not be downloaded (" + fe.reason + ")"}
	}
	// Cancellation: the caller is gone, so the wording hardly matters.
	return &failure{code: codeDownload, text: "the " + what + " could not be downloaded (the request was cancelled)"}
}
