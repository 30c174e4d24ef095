package rampart

import (
	"errors"
	"fmt"
)

// Error codes shared by every package. The server maps each to one HTTP status in one table
// (server/error.go); the CLI prints the message and the detail.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ETOOMANY      = "too_many_requests"
	ETOOLARGE     = "too_large"
	EUNAVAILABLE  = "unavailable"
	EGONE         = "gone"
	EPRECONDITION = "precondition_failed"
)

// Error is an error meant for the user: Code classifies it, Message says what was wrong and
// Detail how to fix it. Errors of any other type are internal: they are logged and shown to
// users only as "internal error".
type Error struct {
	Code    string
	Message string
	Detail  string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("rampart: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("rampart: %s: %s (%s)", e.Code, e.Message, e.Detail)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of e whose Detail says how to fix the problem.
func (e *Error) WithDetail(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the Message of the first *Error in its
// chain, or "internal error" for anything else, so that internal causes never reach users.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorDetail returns the Detail of the first *Error in err's chain, or "".
func ErrorDetail(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return ""
}
