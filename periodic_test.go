package ratchet_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		spec string
		from time.Time
		want time.Time
	}{
		{"@every 1h", at, time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)},
		{"@every 1m", time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC), time.Date(2026, 1, 2, 3, 6, 0, 0, time.UTC)},
		{"@every 90m", at, time.Date(2026, 1, 2, 4, 30, 0, 0, time.UTC)},
		{"@hourly", at, time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)},
		{"@daily", at, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)},
		{"0 9 * * *", at, time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", at, time.Date(2026, 1, 2, 3, 15, 0, 0, time.UTC)},
		{"0 9 * * 1", at, time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}, // next Monday
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			s, err := ratchet.ParseSchedule(tt.spec)
			require.NoError(t, err)
			require.Equal(t, tt.want, s.Next(tt.from))
		})
	}
	for _, bad := range []string{"", "bogus", "@every", "@every x", "@every -1s", "@every 0s", "61 * * * *", "* * * *"} {
		_, err := ratchet.ParseSchedule(bad)
		require.Error(t, err, bad)
	}
	require.Panics(t, func() { ratchet.Every(0) })
}

// periodicAgent registers an agent that answers "tick" at once.
func (b *schedBundle) periodicAgent(t *testing.T, name string) {
	t.Helper()
	m := ratchettest.NewModelFunc(t, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		return ratchettest.Text("tick")
	})
	b.agent(t, name, m, nil, nil)
}

// advanceTo sets the fake clock to at once n scheduler loops wait on it.
func advanceTo(t *testing.T, c *ratchettest.Clock, n int, at time.Time) {
	t.Helper()
	require.True(t, c.WaitForWaiters(n, 5*time.Second), "schedulers never waited on the clock")
	c.Set(at)
}

func waitNext(t *testing.T, st store.Store, id string, want time.Time) ratchet.PeriodicState {
	t.Helper()
	var ps ratchet.PeriodicState
	require.Eventually(t, func() bool {
		var err error
		ps, err = ratchet.LoadPeriodic(context.Background(), st, id)
		return err == nil && ps.Next.Equal(want)
	}, 10*time.Second, time.Millisecond, "periodic %s never scheduled %s (has %s)", id, want, ps.Next)
	return ps
}

func periodicRuns(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	infos, err := st.List(context.Background(), store.Query{Labels: map[string]string{ratchet.LabelPeriodic: id}})
	require.NoError(t, err)
	var ids []string
	for _, info := range infos {
		if info.Agent != ratchet.PeriodicAgent {
			ids = append(ids, info.ID)
		}
	}
	return ids
}

// periodicLog returns the kinds (with reasons) of the schedule's records.
func periodicLog(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	recs, err := st.Read(context.Background(), "periodic-"+id, 1)
	require.NoError(t, err)
	var kinds []string
	for _, r := range recs {
		var rec struct{ Kind, Reason string }
		require.NoError(t, json.Unmarshal(r.Data, &rec))
		if rec.Reason != "" {
			rec.Kind += ":" + rec.Reason
		}
		kinds = append(kinds, rec.Kind)
	}
	return kinds
}

func slot(h, m int) time.Time { return time.Date(2026, 1, 2, h, m, 0, 0, time.UTC) }

func TestPeriodicFiresEachSlot(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	b.periodicAgent(t, "ticker")
	ctx := context.Background()
	spec := ratchet.PeriodicSpec{ID: "tick", Agent: "ticker", Input: "go", Schedule: "@every 1m", Labels: map[string]string{"team": "a"}}
	require.NoError(t, b.sched.AddPeriodic(ctx, spec))
	require.NoError(t, b.sched.AddPeriodic(ctx, spec)) // the same again: no change
	require.NoError(t, b.sched.Start(ctx))
	for i, at := range []time.Time{slot(3, 5), slot(3, 6), slot(3, 7)} {
		advanceTo(t, b.clock, 1, at.Add(time.Duration(i)*time.Second)) // a little late is on time
		info := waitStatus(t, b.store, "tick-"+at.Format("20060102T150405Z"), ratchet.StatusSucceeded)
		require.Equal(t, "a", info.Labels["team"])
		require.Equal(t, at.Format(time.RFC3339), info.Labels[ratchet.LabelSlot])
	}
	ps := waitNext(t, b.store, "tick", slot(3, 8))
	require.Equal(t, "tick-20260102T030700Z", ps.LastRun)
	require.Len(t, periodicRuns(t, b.store, "tick"), 3)
	require.Equal(t, []string{"defined", "fired", "fired", "fired"}, periodicLog(t, b.store, "tick"))

	require.NoError(t, b.sched.RemovePeriodic(ctx, "tick"))
	require.ErrorIs(t, b.sched.RemovePeriodic(ctx, "tick"), ratchet.ErrUnknownPeriodic)
	advanceTo(t, b.clock, 1, slot(3, 9))
	advanceTo(t, b.clock, 1, slot(3, 10)) // a poll has happened since 3:09
	require.Len(t, periodicRuns(t, b.store, "tick"), 3)
	ps, err := ratchet.LoadPeriodic(ctx, b.store, "tick")
	require.NoError(t, err)
	require.True(t, ps.Removed)
	// Adding it again revives it from now.
	require.NoError(t, b.sched.AddPeriodic(ctx, spec))
	waitNext(t, b.store, "tick", slot(3, 11))
}

func TestAddPeriodicErrors(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	b.periodicAgent(t, "ticker")
	ctx := context.Background()
	for _, spec := range []ratchet.PeriodicSpec{
		{ID: "x", Agent: "nobody", Schedule: "@hourly"},
		{ID: "x", Agent: "ticker", Schedule: "bogus"},
		{ID: "bad/id", Agent: "ticker", Schedule: "@hourly"},
		{ID: "x", Agent: "ticker", Schedule: "@hourly", OnMissed: "never"},
		{ID: "x", Agent: "ticker", Schedule: "@hourly", MissedAfter: -1},
	} {
		require.Error(t, b.sched.AddPeriodic(ctx, spec), "%+v", spec)
	}
	require.ErrorIs(t, b.sched.AddPeriodic(ctx, ratchet.PeriodicSpec{ID: "x", Agent: "nobody", Schedule: "@hourly"}), ratchet.ErrUnknownAgent)
	_, err := ratchet.LoadPeriodic(ctx, b.store, "x")
	require.ErrorIs(t, err, ratchet.ErrUnknownPeriodic)
}

func TestPeriodicOverlap(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "skip", true: "allow"}[allow], func(t *testing.T) {
			t.Parallel()
			b := setupSched(t, nil)
			bt := newBlockTool()
			b.agent(t, "blocker", toolThenAnswer(t, "block", `{"text":"x"}`), []ratchet.Tool{bt.tool()}, nil)
			ctx := context.Background()
			require.NoError(t, b.sched.AddPeriodic(ctx, ratchet.PeriodicSpec{ID: "p", Agent: "blocker", Schedule: "@every 1m", AllowOverlap: allow}))
			require.NoError(t, b.sched.Start(ctx))
			advanceTo(t, b.clock, 1, slot(3, 5))
			require.Eventually(t, func() bool { return bt.inFlight.Load() == 1 }, 5*time.Second, time.Millisecond)
			advanceTo(t, b.clock, 1, slot(3, 6))
			waitNext(t, b.store, "p", slot(3, 7))
			if allow {
				require.Eventually(t, func() bool { return bt.inFlight.Load() == 2 }, 5*time.Second, time.Millisecond)
				require.Equal(t, []string{"defined", "fired", "fired"}, periodicLog(t, b.store, "p"))
			} else {
				require.Equal(t, []string{"defined", "fired", "skipped:overlap"}, periodicLog(t, b.store, "p"))
			}
			close(bt.release)
			waitStatus(t, b.store, "p-20260102T030500Z", ratchet.StatusSucceeded)
			advanceTo(t, b.clock, 1, slot(3, 7))
			waitStatus(t, b.store, "p-20260102T030700Z", ratchet.StatusSucceeded)
			require.Len(t, periodicRuns(t, b.store, "p"), map[bool]int{false: 2, true: 3}[allow])
		})
	}
}

// TestPeriodicMissedAfterRestart stops the scheduler, lets five hourly
// slots pass, and starts a new scheduler on the same store.
func TestPeriodicMissedAfterRestart(t *testing.T) {
	t.Parallel()
	for _, policy := range []ratchet.MissedPolicy{ratchet.MissedSkip, ratchet.MissedRunOnce} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			b := setupSched(t, nil)
			b.periodicAgent(t, "ticker")
			ctx := context.Background()
			spec := ratchet.PeriodicSpec{ID: "h", Agent: "ticker", Schedule: "@every 1h", OnMissed: policy}
			require.NoError(t, b.sched.AddPeriodic(ctx, spec))
			require.NoError(t, b.sched.Start(ctx))
			advanceTo(t, b.clock, 1, slot(4, 0))
			waitStatus(t, b.store, "h-20260102T040000Z", ratchet.StatusSucceeded)
			waitNext(t, b.store, "h", slot(5, 0))
			require.NoError(t, b.sched.Stop(ctx))

			b.clock.Set(slot(9, 30)) // 5:00 to 9:00 missed
			b2 := setupSched(t, &ratchet.SchedulerConfig{Store: b.store, Clock: b.clock, Owner: "sched-2"})
			b2.periodicAgent(t, "ticker")
			require.NoError(t, b2.sched.AddPeriodic(ctx, spec)) // as at every startup
			require.NoError(t, b2.sched.Start(ctx))
			waitNext(t, b.store, "h", slot(10, 0))
			if policy == ratchet.MissedSkip {
				require.Equal(t, []string{"defined", "fired", "skipped:missed"}, periodicLog(t, b.store, "h"))
				require.Len(t, periodicRuns(t, b.store, "h"), 1)
			} else {
				require.Equal(t, []string{"defined", "fired", "fired"}, periodicLog(t, b.store, "h"))
				waitStatus(t, b.store, "h-20260102T050000Z", ratchet.StatusSucceeded)
			}
			advanceTo(t, b.clock, 1, slot(10, 0))
			waitStatus(t, b.store, "h-20260102T100000Z", ratchet.StatusSucceeded)
			waitNext(t, b.store, "h", slot(11, 0))
		})
	}
}

// TestPeriodicLateButOnTime: a restart within MissedAfter of a slot fires
// it (missing nothing).
func TestPeriodicLateButOnTime(t *testing.T) {
	t.Parallel()
	b := setupSched(t, nil)
	b.periodicAgent(t, "ticker")
	ctx := context.Background()
	require.NoError(t, b.sched.AddPeriodic(ctx, ratchet.PeriodicSpec{ID: "h", Agent: "ticker", Schedule: "@every 1h", MissedAfter: 10 * time.Minute}))
	b.clock.Set(slot(4, 9)) // before Start: late by 9m
	require.NoError(t, b.sched.Start(ctx))
	waitStatus(t, b.store, "h-20260102T040000Z", ratchet.StatusSucceeded)
	require.Equal(t, []string{"defined", "fired"}, periodicLog(t, b.store, "h"))
}

// TestPeriodicTwoSchedulers runs two schedulers on one store: each slot
// fires exactly once.
func TestPeriodicTwoSchedulers(t *testing.T) {
	t.Parallel()
	b := setupSched(t, &ratchet.SchedulerConfig{PollInterval: time.Second})
	b2 := setupSched(t, &ratchet.SchedulerConfig{Store: b.store, Clock: b.clock, Owner: "sched-2", PollInterval: time.Second})
	ctx := context.Background()
	spec := ratchet.PeriodicSpec{ID: "m", Agent: "ticker", Schedule: "@every 1m"}
	for _, x := range []*schedBundle{b, b2} {
		x.periodicAgent(t, "ticker")
		require.NoError(t, x.sched.AddPeriodic(ctx, spec))
		require.NoError(t, x.sched.Start(ctx))
	}
	const slots = 10
	for i := range slots {
		at := slot(3, 5+i)
		advanceTo(t, b.clock, 2, at)
		waitStatus(t, b.store, "m-"+at.Format("20060102T150405Z"), ratchet.StatusSucceeded)
		waitNext(t, b.store, "m", at.Add(time.Minute))
	}
	// Both have polled again since the last slot.
	advanceTo(t, b.clock, 2, slot(3, 5+slots-1).Add(2*time.Second))
	advanceTo(t, b.clock, 2, slot(3, 5+slots-1).Add(4*time.Second))
	require.Len(t, periodicRuns(t, b.store, "m"), slots)
	log := periodicLog(t, b.store, "m")
	require.Len(t, log, slots+1)
	for _, k := range log[1:] {
		require.Equal(t, "fired", k)
	}
}
