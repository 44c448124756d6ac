package ratchet

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is when a periodic run fires: Next returns the first fire time
// strictly after t. It is a pure function of t (like river's
// PeriodicSchedule), so every scheduler sharing a store computes the same
// slots. Implementations must be safe for concurrent use.
type Schedule interface {
	Next(t time.Time) time.Time
}

// Every returns the Schedule that fires every d, at the multiples of d
// since the zero time (time.Time.Truncate): Every(time.Hour) fires on the
// hour, whenever it is asked. d must be positive; Every panics otherwise.
func Every(d time.Duration) Schedule {
	if d <= 0 {
		panic("ratchet: Every: non-positive interval")
	}
	return every(d)
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d)
}

// Cron parses a standard 5-field cron expression (minute, hour, day of
// month, month, day of week) or a descriptor (@yearly, @monthly, @weekly,
// @daily, @hourly), optionally prefixed with CRON_TZ=<zone>, with
// robfig/cron/v3's standard parser. Without a zone, times are those of the
// clock (usually UTC or local).
func Cron(expr string) (Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("ratchet: cron %q: %w", expr, err)
	}
	return s, nil
}

// ParseSchedule parses a schedule spec: "@every <duration>" (a
// time.ParseDuration string, see Every) or anything Cron accepts.
func ParseSchedule(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("ratchet: schedule %q: %w", spec, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("ratchet: schedule %q: interval must be positive", spec)
		}
		return Every(d), nil
	}
	return Cron(spec)
}
