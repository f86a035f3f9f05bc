package processor

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// kgoLogger sends franz-go's log lines to zap. franz-go's info level is
// chatty about routine group and connection events, so it is logged at
// debug; warnings and errors keep their level.
type kgoLogger struct {
	l *zap.Logger
}

var _ kgo.Logger = kgoLogger{}

func (k kgoLogger) Level() kgo.LogLevel {
	switch {
	case k.l.Core().Enabled(zapcore.DebugLevel):
		return kgo.LogLevelInfo
	case k.l.Core().Enabled(zapcore.WarnLevel):
		return kgo.LogLevelWarn
	}
	return kgo.LogLevelError
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := zapcore.DebugLevel
	switch level {
	case kgo.LogLevelError:
		lvl = zapcore.ErrorLevel
	case kgo.LogLevelWarn:
		lvl = zapcore.WarnLevel
	}
	if ce := k.l.Check(lvl, msg); ce != nil {
		fields := make([]zap.Field, 0, len(keyvals)/2)
		for i := 0; i+1 < len(keyvals); i += 2 {
			key, _ := keyvals[i].(string)
			fields = append(fields, zap.Any(key, keyvals[i+1]))
		}
		ce.Write(fields...)
	}
}
