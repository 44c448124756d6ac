package ratchet

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// schedule is when a periodic run fires: Next returns the first fire time
// strictly after t. It is a pure function of t (like river's
// PeriodicSchedule), so every scheduler sharing a store computes the same
// slots. Implementations must be safe for concurrent use.
type schedule interface {
	Next(t time.Time) time.Time
}

// every returns the schedule that fires every d, at the multiples of d
// since the zero time (time.Time.Truncate): every(time.Hour) fires on the
// hour, whenever it is asked. d must be positive; every panics otherwise.
func every(d time.Duration) schedule {
	if d <= 0 {
		panic("ratchet: every: non-positive interval")
	}
	return everyDuration(d)
}

type everyDuration time.Duration

func (e everyDuration) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d)
}

// cronSchedule parses a standard 5-field cron expression (minute, hour, day of
// month, month, day of week) or a descriptor (@yearly, @monthly, @weekly,
// @daily, @hourly), optionally prefixed with CRON_TZ=<zone>, with
// robfig/cron/v3's standard parser. Without a zone, times are those of the
// clock (usually UTC or local).
func cronSchedule(expr string) (schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("ratchet: cron %q: %w", expr, err)
	}
	return s, nil
}

// parseSchedule parses a schedule spec: "@every <duration>" (a
// time.ParseDuration string, see every) or anything cronSchedule accepts.
func parseSchedule(spec string) (schedule, error) {
	spec = strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("ratchet: schedule %q: %w", spec, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("ratchet: schedule %q: interval must be positive", spec)
		}
		return every(d), nil
	}
	return cronSchedule(spec)
}
