package awsiam

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

// isNoSuchEntity reports whether IAM answered NoSuchEntity (404): the
// user, login profile, key or group named does not exist. Every operation
// treats it as "already gone".
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteLoginProfile.html#API_DeleteLoginProfile_Errors
func isNoSuchEntity(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity"
}

// classify turns an SDK error into a classified connector error, in one
// place. The SDK has already retried throttling and 5xx answers
// (max_attempts); what reaches here is the last attempt's error.
//
// IAM's and STS's error codes are listed at
// https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html and
// on each action's page: Throttling (400) is IAM's throttling code, not a
// 429; AccessDenied comes with 403, and a bad or expired key with
// InvalidClientTokenId / SignatureDoesNotMatch / ExpiredToken (403, not
// 401).
func (c *Connector) classify(op string, a *account, what string, err error) *connectors.Error {
	if err == nil {
		return nil
	}
	var ce *connectors.Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &connectors.Error{Connector: c.name, Op: op}
	label := a.label()
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
			// IAM does not document Retry-After, but a proxy or a future
			// answer may send one; the job layer then waits that long.
			e.RetryAfter = connectors.ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
		}
	}
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		// A truncated answer or a proxy's page: transient, like okta's
		// undecodable bodies; the text names no body content.
		e.Kind = connectors.KindTransient
		e.Err = &apiError{text: fmt.Sprintf("%s: unexpected response from AWS (status %d): not the expected XML", label, e.Status), cause: err}
		return e
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		if e.Status >= 500 || e.Status == 408 {
			e.Kind = connectors.KindTransient
			e.Err = fmt.Errorf("%s: %w", label, err)
			return e
		}
		if e.Status == 0 {
			// No answer: a transport error (connection, DNS, TLS, URL policy).
			t := connectors.Classify(c.name, op, err)
			t.Err = fmt.Errorf("%s: %w", label, err)
			return t
		}
		e.Kind = connectors.KindForStatus(e.Status)
		e.Err = fmt.Errorf("%s: %w", label, err)
		return e
	}
	code := ae.ErrorCode()
	switch code {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
		"RequestThrottled", "RequestThrottledException", "SlowDown", "PriorRequestNotComplete":
		e.Kind = connectors.KindRateLimited
	case "ServiceFailure", "ServiceUnavailable", "InternalFailure", "InternalError",
		"ConcurrentModification", "EntityTemporarilyUnmodifiable", "IDPCommunicationError":
		// EntityTemporarilyUnmodifiable: "such as a user name that was
		// deleted and then recreated"; it clears on its own.
		e.Kind = connectors.KindTransient
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized", "OptInRequired":
		e.Kind = connectors.KindForbidden
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
		"InvalidAccessKeyId", "UnrecognizedClientException", "MissingAuthenticationToken", "IncompleteSignature",
		"RegionDisabledException", "RequestExpired":
		// RequestExpired: the signing time is more than 15 minutes off
		// (a clock to fix, not a request to repeat).
		e.Kind = connectors.KindAuth
	case "NoSuchEntity":
		e.Kind = connectors.KindNotFound
	default:
		switch {
		case e.Status >= 500:
			e.Kind = connectors.KindTransient
		case e.Status != 0:
			e.Kind = connectors.KindForStatus(e.Status)
		case ae.ErrorFault() == smithy.FaultServer:
			e.Kind = connectors.KindTransient
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
	if a.role != "" && isAssumeRoleError(err) {
		msg = "assuming " + a.role + ": " + msg
	}
	e.Err = &apiError{text: label + ": " + msg, cause: err}
	return e
}

// apiError keeps the SDK error for errors.As while printing only the AWS
// code and message (the SDK's own text repeats the operation and request
// id, which are noise in a status card).
type apiError struct {
	text  string
	cause error
}

func (e *apiError) Error() string { return e.text }
func (e *apiError) Unwrap() error { return e.cause }

// isAssumeRoleError reports whether err came from retrieving the
// assumed role's credentials (sts:AssumeRole) rather than from IAM.
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
