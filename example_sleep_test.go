package ratchet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// A tool returns SleepUntil to make its run sleep until a time. The timer
// is durable: the run is persisted as sleeping, with its wake-up time in
// the store's index, and whichever Scheduler polls the store once the time
// has come continues it, after a restart too. The run here sleeps eight
// hours on a fake clock, so the example does not.
func ExampleSleepUntil() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	rested := newRests()

	followUp := ratchet.NewTool("follow_up_tomorrow", "Waits until 08:00 tomorrow.", func(ctx context.Context, in struct{}) (string, error) {
		return "", ratchet.SleepUntil(clock.Now().Truncate(24 * time.Hour).Add(32 * time.Hour))
	})
	model := ratchettest.NewModel(&ratchettest.ExampleTB{},
		ratchettest.ToolCalls(ratchettest.Call{Name: "follow_up_tomorrow", Args: `{}`}),
		ratchettest.Text("Sent the follow-up."),
	)
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name: "follower", Model: model, Tools: []ratchet.Tool{followUp},
		Store: st, Clock: clock, NewID: func() string { return "lead-1" }, Observer: rested,
	})
	if err != nil {
		panic(err)
	}
	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Clock: clock, Owner: "worker-a"})
	if err != nil {
		panic(err)
	}
	if err := s.Register(agent, nil); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	defer s.Stop(ctx)

	clock.Advance(15 * time.Hour) // 15:00 on the first day
	id, err := s.StartRun(ctx, "follower", "Follow up with the lead tomorrow morning.", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rested.next())
	info, err := st.Get(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println("wakes at", info.WakeAt.Format(time.DateTime))

	// Move the fake clock only while the scheduler waits on it: its poll
	// timer is then pending, and moving the clock past it fires it.
	clock.WaitForWaiters(1, 10*time.Second)
	clock.Set(info.WakeAt)
	fmt.Println(rested.next())
	state, err := ratchet.LoadState(ctx, st, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(state.Messages[len(state.Messages)-2].Content) // the tool's result
	fmt.Println(state.Output)
	// Output:
	// lead-1 sleeping
	// wakes at 2026-01-02 08:00:00
	// lead-1 succeeded
	// woke at 2026-01-02T08:00:00Z
	// Sent the follow-up.
}
