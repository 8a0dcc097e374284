package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"
)

// errorf builds a gateway error in OpenAI's shape with the conventional type
// for its status.
func errorf(status int, code, param, format string, args ...any) *openai.Error {
	return openai.NewError(status, openai.TypeForStatus(status), code, param, fmt.Sprintf(format, args...))
}

func writeError(w http.ResponseWriter, e *openai.Error) { e.Write(w) }

// asAPIError turns whatever an adapter returned into a client-facing error.
// Adapters return *openai.Error for everything they understood; anything
// else is the gateway's own failure.
func asAPIError(err error) *openai.Error {
	var e *openai.Error
	if errors.As(err, &e) {
		return e
	}
	return errorf(http.StatusBadGateway, "upstream_error", "", "the request to the vendor failed")
}
