package sds

import (
	"context"
	"errors"

	"github.com/gpfed/gpfed/internal/gpconnect"
)

// Resolver adapts c to the GP Connect client's per-call endpoint
// resolution: each call made for a practice without an override looks up
// the interaction it is about to make (booking calls: every booking is its
// own session, so nothing is kept across bookings). A failed lookup becomes
// a *gpconnect.Error whose SpineCode is the failure's Code (SDS_NO_ENDPOINT,
// SDS_UNAVAILABLE, ...), retryable when SDS was unavailable. A nil client
// gives a nil Resolver (such calls then fail with gpconnect.CodeNoEndpoint).
func (c *Client) Resolver() gpconnect.Resolver {
	if c == nil {
		return nil
	}
	return func(ctx context.Context, ods, interaction string) (gpconnect.Provider, error) {
		ep, err := c.Lookup(ctx, ods, interaction)
		var serr *Error
		if errors.As(err, &serr) {
			return gpconnect.Provider{}, &gpconnect.Error{SpineCode: serr.Code(), Diagnostics: serr.Error(),
				Retryable: serr.Kind == Unavailable, Err: err}
		}
		if err != nil {
			return gpconnect.Provider{}, err
		}
		return gpconnect.Provider{ODS: ods, ASID: ep.ASID, ServiceRoot: ep.Address}, nil
	}
}
