package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rampart-ci/rampart"
)

// statusOf maps each error code to one HTTP status.
var statusOf = map[string]int{
	rampart.EINVALID:      http.StatusBadRequest,
	rampart.EUNAUTHORIZED: http.StatusUnauthorized,
	rampart.EFORBIDDEN:    http.StatusForbidden,
	rampart.ENOTFOUND:     http.StatusNotFound,
	rampart.ECONFLICT:     http.StatusConflict,
	rampart.EGONE:         http.StatusGone,
	rampart.EPRECONDITION: http.StatusPreconditionFailed,
	rampart.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	rampart.ETOOMANY:      http.StatusTooManyRequests,
	rampart.EUNAVAILABLE:  http.StatusServiceUnavailable,
	rampart.EINTERNAL:     http.StatusInternalServerError,
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error     string `json:"error"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError answers with err. Internal errors are logged with the request id and shown to the
// client only as "internal error" plus that id, so the log line can be found without leaking why.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := rampart.ErrorCode(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = rampart.Errorf(rampart.ETOOLARGE, "request body larger than %d bytes", mbe.Limit).WithDetail("send a smaller body")
		code = rampart.ETOOLARGE
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	id := requestID(r.Context())
	if code == rampart.EINTERNAL {
		logger.ErrorContext(r.Context(), "internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, ErrorResponse{Error: rampart.ErrorMessage(err), Detail: rampart.ErrorDetail(err), RequestID: id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}
