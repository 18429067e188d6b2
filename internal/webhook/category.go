package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strings"
)

// Category is what a sender is told about a failed delivery attempt: enough
// to act on (call the practice, check their certificate), never the
// network detail behind it.
type Category string

// Failure categories.
const (
	CategoryUnreachable Category = "unreachable" // no connection: refused, DNS, blocked target, no usable secret
	CategoryTimeout     Category = "timeout"     // no answer within GPFED_WEBHOOK_TIMEOUT
	CategoryTLS         Category = "tls"         // TLS handshake or certificate failure, or http:// refused
	CategoryHTTP4xx     Category = "http_4xx"    // the receiver refused (also 3xx: redirects are not followed)
	CategoryHTTP5xx     Category = "http_5xx"    // the receiver failed
)

// Sender-facing messages; CategoryOf reads them back.
var (
	errUnreachable = errors.New("webhook unreachable")
	errTimeout     = errors.New("webhook timed out")
	errTLS         = errors.New("webhook TLS failed")
)

func statusCategory(status int) Category {
	if status >= 500 {
		return CategoryHTTP5xx
	}
	return CategoryHTTP4xx
}

// transportFailure turns a client error (no response) into a Result: the
// category and a sender-safe message, the detail (without the URL) for
// admins. A blocked target or a refused http:// URL is permanent: only a
// configuration change can fix it.
func transportFailure(err error) Result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	detail := err.Error()
	var be *BlockedError
	var ie InsecureError
	switch {
	case errors.As(err, &be):
		return Result{Outcome: Permanent, Category: CategoryUnreachable, Err: errUnreachable, Detail: detail}
	case errors.As(err, &ie):
		return Result{Outcome: Permanent, Category: CategoryTLS, Err: errTLS, Detail: detail}
	case isTimeout(err):
		return Result{Outcome: Retry, Category: CategoryTimeout, Err: errTimeout, Detail: detail}
	case isTLS(err):
		return Result{Outcome: Retry, Category: CategoryTLS, Err: errTLS, Detail: detail}
	}
	return Result{Outcome: Retry, Category: CategoryUnreachable, Err: errUnreachable, Detail: detail}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func isTLS(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae) || errors.As(err, &uae) ||
		errors.As(err, &he) || errors.As(err, &cie) || strings.Contains(err.Error(), "tls: ")
}

// CategoryOf reads the category back from a recorded sender-facing
// message (a task's last_error), "" when it is not a webhook failure.
func CategoryOf(msg string) Category {
	switch {
	case strings.Contains(msg, errUnreachable.Error()), strings.Contains(msg, "webhook URL is not"):
		return CategoryUnreachable
	case strings.Contains(msg, errTimeout.Error()):
		return CategoryTimeout
	case strings.Contains(msg, errTLS.Error()):
		return CategoryTLS
	}
	if i := strings.Index(msg, "webhook answered "); i >= 0 {
		rest := msg[i+len("webhook answered "):]
		if len(rest) >= 3 && rest[0] == '5' {
			return CategoryHTTP5xx
		}
		if len(rest) >= 3 {
			return CategoryHTTP4xx
		}
	}
	return ""
}
