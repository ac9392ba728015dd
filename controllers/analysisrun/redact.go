package analysisrun

import (
	"fmt"

	"github.com/go-logr/logr"

	"github.com/sluice-dev/sluice/analysis"
)

// redactingSink is a logr sink that redacts every message, error and value it is given before
// passing them on, so that nothing logged while a run is reconciled can print a Secret value.
type redactingSink struct {
	logr.LogSink
	r *analysis.Redactor
}

// redactLogger returns log with everything it writes redacted by r.
func redactLogger(log logr.Logger, r *analysis.Redactor) logr.Logger {
	sink := log.GetSink()
	if sink == nil {
		return log
	}
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return logr.New(&redactingSink{LogSink: sink, r: r})
}

// Init does nothing: the wrapped sink was initialised when its logger was made.
func (s *redactingSink) Init(logr.RuntimeInfo) {}

func (s *redactingSink) Info(level int, msg string, kv ...any) {
	s.LogSink.Info(level, s.r.String(msg), s.values(kv)...)
}

func (s *redactingSink) Error(err error, msg string, kv ...any) {
	s.LogSink.Error(s.r.Error(err), s.r.String(msg), s.values(kv)...)
}

func (s *redactingSink) WithValues(kv ...any) logr.LogSink {
	return &redactingSink{LogSink: s.LogSink.WithValues(s.values(kv)...), r: s.r}
}

func (s *redactingSink) WithName(name string) logr.LogSink {
	return &redactingSink{LogSink: s.LogSink.WithName(name), r: s.r}
}

// values redacts the values of key/value pairs: strings, errors and Stringers are redacted as
// text; anything else is formatted first when its text would change.
func (s *redactingSink) values(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		switch x := v.(type) {
		case nil, bool, int, int32, int64, uint, uint32, uint64, float32, float64:
			out[i] = v
		case string:
			out[i] = s.r.String(x)
		case error:
			out[i] = s.r.Error(x)
		case fmt.Stringer:
			out[i] = s.r.String(x.String())
		default:
			text := fmt.Sprintf("%+v", v)
			if red := s.r.String(text); red != text {
				out[i] = red
			} else {
				out[i] = v
			}
		}
	}
	return out
}

var _ logr.LogSink = (*redactingSink)(nil)
