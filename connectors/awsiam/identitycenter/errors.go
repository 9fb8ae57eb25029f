package identitycenter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/kineticsec/kinetic/connectors"
)

// isNotFound reports whether the API answered ResourceNotFoundException:
// the user, membership or assignment named does not exist. Every
// operation treats it as "already gone".
// https://docs.aws.amazon.com/singlesignon/latest/IdentityStoreAPIReference/API_DeleteGroupMembership.html
func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException"
}

// classify turns an SDK error into a classified connector error, in one
// place, after the SDK's own retries. The codes are those the SSO Admin
// and Identity Store references list for every action
// (https://docs.aws.amazon.com/singlesignon/latest/APIReference/CommonErrors.html):
// ThrottlingException (400) is rate limiting; InternalServerException and
// 5xx are transient; ConflictException is transient too ("generally occurs
// when the previous write did not have time to propagate … A retry (with
// appropriate backoff logic) is the recommended response", the SSO Admin
// model's documentation of the error); AccessDeniedException is
// forbidden; a bad, expired or unsigned credential is auth.
func (c *Connector) classify(op, what string, err error) *connectors.Error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &connectors.Error{Connector: c.name, Op: op}
	label := "Identity Center"
	if what != "" {
		label += ": " + what
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Kind, e.Err = connectors.KindCanceled, fmt.Errorf("%s: %w", label, err)
		return e
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
		if r := re.Response; r != nil && r.Response != nil {
			e.RetryAfter = connectors.ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
		}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		e.Kind = connectors.KindTransient
		e.Err = &apiError{text: fmt.Sprintf("%s: unexpected response from AWS (status %d): not the expected JSON", label, e.Status), cause: err}
		return e
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		switch {
		case e.Status == 0:
			t := connectors.Classify(c.name, op, err)
			t.Err = fmt.Errorf("%s: %w", label, err)
			return t
		default:
			e.Kind = connectors.KindForStatus(e.Status)
		}
		e.Err = fmt.Errorf("%s: %w", label, err)
		return e
	}
	code := ae.ErrorCode()
	switch code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
		e.Kind = connectors.KindRateLimited
	case "InternalServerException", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "ConflictException",
		"ServiceException", "ConcurrentModificationException":
		// The last two are Organizations': its service failing, and
		// another update of the same policy in flight.
		e.Kind = connectors.KindTransient
	case "AccessDeniedException", "AccessDenied":
		e.Kind = connectors.KindForbidden
	case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "ExpiredToken",
		"InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationTokenException", "IncompleteSignature",
		"RequestExpired":
		e.Kind = connectors.KindAuth
	case "ResourceNotFoundException":
		e.Kind = connectors.KindNotFound
	default:
		switch {
		case e.Status >= 500 || ae.ErrorFault() == smithy.FaultServer && e.Status == 0:
			e.Kind = connectors.KindTransient
		case e.Status != 0:
			e.Kind = connectors.KindForStatus(e.Status)
		default:
			e.Kind = connectors.KindInvalid
		}
	}
	msg := strings.TrimSpace(ae.ErrorMessage())
	if msg == "" {
		msg = code
	} else {
		msg = code + ": " + msg
	}
	if isAssumeRoleError(err) {
		msg = "assuming " + c.cfg.RoleARN + ": " + msg
	}
	e.Err = &apiError{text: label + ": " + msg, cause: err}
	return e
}

// apiError prints the AWS code and message only, keeping the SDK error for
// errors.As.
type apiError struct {
	text  string
	cause error
}

func (e *apiError) Error() string { return e.text }
func (e *apiError) Unwrap() error { return e.cause }

func isAssumeRoleError(err error) bool {
	var oe *smithy.OperationError
	for errors.As(err, &oe) {
		if oe.ServiceID == "STS" {
			return true
		}
		err = oe.Err
	}
	return false
}
