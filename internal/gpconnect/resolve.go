package gpconnect

import (
	"context"
	"errors"
)

// Resolver finds the provider to call for one interaction of practice ods: its GP Connect service
// root and ASID as the Spine Directory Service lists them for that interaction (a root found for
// one capability is never used for another). It is consulted only for a Provider without a
// ServiceRoot (a practice with no endpoint override). Failures should be *Error values with
// NotSent set and a SpineCode naming the directory problem (for example SDS_NO_ENDPOINT); any
// other error is wrapped as CodeNoEndpoint.
type Resolver func(ctx context.Context, ods, interaction string) (Provider, error)

// CodeNoEndpoint is the code of a call that could not be made because the practice's endpoint
// could not be resolved (no override, and no directory configured or a directory failure that
// was not classified).
const CodeNoEndpoint = "NO_ENDPOINT"

var errNoResolver = errors.New("the practice has no endpoint override and no directory (GPFED_SDS_URL) is configured")

// resolve fills p's root and ASID for interaction when p has none; nothing is sent on failure.
func (c *Client) resolve(ctx context.Context, p Provider, interaction string) (Provider, *Error) {
	if p.ServiceRoot != "" {
		return p, nil
	}
	notSent := func(err error) *Error {
		return &Error{SpineCode: CodeNoEndpoint, Interaction: interaction, NotSent: true, Err: err}
	}
	if c.cfg.Resolve == nil {
		return p, notSent(errNoResolver)
	}
	rp, err := c.cfg.Resolve(ctx, p.ODS, interaction)
	var gerr *Error
	switch {
	case errors.As(err, &gerr):
		gerr.NotSent, gerr.Interaction = true, interaction
		return p, gerr
	case err != nil:
		return p, notSent(err)
	case rp.ServiceRoot == "" || rp.ASID == "":
		return p, notSent(errors.New("the directory returned no service root or ASID"))
	}
	rp.ODS = p.ODS
	return rp, nil
}

// WithResolver returns a client that shares c's connections and limits but
// resolves endpoints with r.
func (c *Client) WithResolver(r Resolver) *Client {
	cp := *c
	cp.cfg.Resolve = r
	return &cp
}
