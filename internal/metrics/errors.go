package metrics

import (
	"context"
	"errors"

	"github.com/genrouter/genrouter/internal/errclass"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
)

// OutcomeSuccess is the outcome Attempt records for an attempt whose
// answer started.
const OutcomeSuccess = "success"

// AttemptOutcome is the outcome of one upstream attempt for Attempt:
// OutcomeSuccess for nil, else the error's class as an attempt's
// (errclass.Attempt for an *openai.Error, the class circuits record too).
func AttemptOutcome(err error) string {
	if err == nil {
		return OutcomeSuccess
	}
	var e *openai.Error
	if errors.As(err, &e) {
		return errclass.Attempt(e)
	}
	return ClassifyError(err, true)
}

// ClassifyError is errclass.Classify for a Go error as dispatch, the router
// or an adapter returns it: an *openai.Error by its status and code; the
// router's first-byte and stream-idle causes as VendorTimeout and its total
// timeout as GatewayTimeout; context.Canceled as ClientCanceled; anything
// else as VendorUnreachable when upstream (a transport error), else
// GatewayInternal. nil is "".
func ClassifyError(err error, upstream bool) string {
	if err == nil {
		return ""
	}
	var e *openai.Error
	if errors.As(err, &e) {
		code := ""
		if e.Code != nil {
			code = *e.Code
		}
		return errclass.Classify(e.Status, code, upstream)
	}
	switch {
	case errors.Is(err, route.ErrFirstByteTimeout), errors.Is(err, route.ErrStreamIdleTimeout):
		return errclass.VendorTimeout
	case errors.Is(err, route.ErrTotalTimeout):
		return errclass.GatewayTimeout
	case errors.Is(err, context.Canceled):
		return errclass.ClientCanceled
	case errors.Is(err, context.DeadlineExceeded):
		if upstream {
			return errclass.VendorTimeout
		}
		return errclass.GatewayTimeout
	}
	if upstream {
		return errclass.VendorUnreachable
	}
	return errclass.GatewayInternal
}
