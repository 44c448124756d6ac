package ratchet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDueSlots(t *testing.T) {
	t.Parallel()
	h := func(hh, mm int) time.Time { return time.Date(2026, 1, 2, hh, mm, 0, 0, time.UTC) }
	hourly := every(time.Hour)
	tests := []struct {
		name       string
		first, now time.Time
		want       slotsDue
		grace      time.Duration
	}{
		{"exactly due", h(4, 0), h(4, 0), slotsDue{latest: h(4, 0), onTime: true}, time.Minute},
		{"a bit late", h(4, 0), h(4, 0).Add(30 * time.Second), slotsDue{latest: h(4, 0), onTime: true}, time.Minute},
		{"too late", h(4, 0), h(4, 2), slotsDue{missed: true}, time.Minute},
		{"later slot on time", h(4, 0), h(9, 0), slotsDue{latest: h(9, 0), onTime: true, missed: true}, time.Minute},
		{"all missed", h(4, 0), h(9, 30), slotsDue{missed: true}, time.Minute},
		{"long grace", h(4, 0), h(9, 30), slotsDue{latest: h(9, 0), onTime: true, missed: true}, 2 * time.Hour},
		{"years down", h(4, 0), h(4, 0).AddDate(3, 0, 0).Add(time.Second), slotsDue{latest: h(4, 0).AddDate(3, 0, 0), onTime: true, missed: true}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, dueSlots(hourly, tt.first, tt.now, tt.grace))
		})
	}
}
