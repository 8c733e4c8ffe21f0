package image

import (
	"log/slog"
	"net/http"
	"time"
)

// traced logs each request a source makes, at debug level, through the
// default logger: imgadm -v shows them, as SmartOS's imgadm -v traces
// its requests. Costs nothing when debug logging is off.
type traced struct{ next http.RoundTripper }

func (t traced) RoundTrip(r *http.Request) (*http.Response, error) {
	if !slog.Default().Enabled(r.Context(), slog.LevelDebug) {
		return t.next.RoundTrip(r)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	attrs := []any{"method", r.Method, "url", r.URL.Redacted(), "ms", time.Since(start).Milliseconds()}
	if err != nil {
		slog.Debug("request failed", append(attrs, "err", err)...)
	} else {
		slog.Debug("request", append(attrs, "status", resp.StatusCode)...)
	}
	return resp, err
}
