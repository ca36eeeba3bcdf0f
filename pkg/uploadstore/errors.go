package uploadstore

import (
	"context"
	"errors"
	"net/http"
	"syscall"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tusimg/tusimg/pkg/httperr"
	"github.com/tusimg/tusimg/pkg/reqctx"
)

// ErrInsufficientStorage is the public error for a full disk or quota.
var ErrInsufficientStorage = httperr.New(http.StatusInsufficientStorage, "insufficient_storage",
	"the server has no room to store this upload right now; retry later")

// TusError converts e into the error type tusd writes to clients, with our
// JSON body and the request id from ctx.
func TusError(ctx context.Context, e *httperr.Error) handler.Error {
	return handler.Error{
		ErrorCode: e.Code,
		Message:   e.Message,
		HTTPResponse: handler.HTTPResponse{
			StatusCode: e.Status,
			Body:       string(e.JSON(reqctx.From(ctx).ID)),
			Header: handler.HTTPHeader{
				"Content-Type":  "application/json; charset=utf-8",
				"Cache-Control": "no-store",
			},
		},
	}
}

// Public turns any error into one safe to hand to tusd: tusd's own errors pass
// through, *httperr.Error is converted, a full disk becomes 507, and anything
// else is logged and replaced by a generic 500 carrying the request id, so no
// internal text reaches a client. A nil err stays nil.
func Public(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var te handler.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := httperr.As(err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		e = ErrInsufficientStorage.WithCause(err)
	}
	if e.Status >= 500 {
		reqctx.From(ctx).Log.ErrorContext(ctx, "upload.store_error", "status", e.Status, "error", err)
	}
	return TusError(ctx, e)
}
