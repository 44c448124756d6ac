package ratchet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// rests is an Observer that passes on every time a run comes to rest: it
// waits, sleeps or pauses (EventRunSuspended), or it ends (EventRunEnded).
// An application uses the same events to tell a person that a run waits
// for them; the examples use it to know when the Scheduler's workers, on
// their own goroutines, are done with a run.
type rests chan ratchet.Event

func newRests() rests { return make(rests, 64) }

// Observe implements ratchet.Observer.
func (r rests) Observe(ctx context.Context, e ratchet.Event) {
	if e.Kind == ratchet.EventRunSuspended || e.Kind == ratchet.EventRunEnded {
		r <- e
	}
}

// next returns the next run to come to rest, as "ID status".
func (r rests) next() string {
	select {
	case e := <-r:
		return e.RunID + " " + string(e.Status)
	case <-time.After(10 * time.Second): // a guard against a hang, not a timing
		return "no run came to rest"
	}
}

// A Scheduler steps many runs over one store with a bounded pool of
// workers. Register the agents, Start it, start runs from any goroutine;
// Stop lets the steps in progress reach their checkpoint. The runs are in
// the store, so any process with the agent registered could continue them.
func ExampleScheduler() {
	ctx := context.Background()
	st := store.NewMemory(nil)
	clock := ratchettest.NewClock(ratchettest.Epoch())
	done := newRests()

	type cityIn struct {
		City string `json:"city"`
	}
	weather := ratchet.NewTool("weather", "Today's weather in a city.", func(ctx context.Context, in cityIn) (string, error) {
		return map[string]string{"Oslo": "snow", "Lima": "sun", "Pune": "rain"}[in.City], nil
	})
	// The model asks for the weather in the city of its input, then
	// answers with the tool's result.
	model := ratchettest.NewModelFunc(&ratchettest.ExampleTB{}, func(ctx context.Context, call int, req *ratchet.Request) ratchettest.Reply {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == ratchet.RoleTool {
			return ratchettest.Text(req.Messages[0].Content + ": " + last.Content)
		}
		return ratchettest.ToolCalls(ratchettest.Call{Name: "weather", Args: fmt.Sprintf(`{"city":%q}`, last.Content)})
	})
	n := 0
	agent, err := ratchet.NewAgent(ratchet.Config{
		Name:     "forecaster",
		Model:    model,
		Tools:    []ratchet.Tool{weather},
		Store:    st,
		Clock:    clock,
		NewID:    func() string { n++; return fmt.Sprintf("forecast-%d", n) },
		Observer: done,
	})
	if err != nil {
		panic(err)
	}

	s, err := ratchet.NewScheduler(ratchet.SchedulerConfig{Store: st, Clock: clock, Workers: 2, Owner: "worker-a"})
	if err != nil {
		panic(err)
	}
	if err := s.Register(agent, &ratchet.AgentOptions{MaxConcurrent: 2}); err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	for _, city := range []string{"Oslo", "Lima", "Pune"} {
		if _, err := s.StartRun(ctx, "forecaster", city, nil); err != nil {
			panic(err)
		}
	}
	var ended []string
	for range 3 {
		ended = append(ended, done.next())
	}
	slices.Sort(ended) // the workers finish in any order
	fmt.Println(strings.Join(ended, "\n"))
	if err := s.Stop(ctx); err != nil {
		panic(err)
	}
	<-s.Stopped()

	// What the runs left in the store, for any process to read.
	infos, err := st.List(ctx, store.Query{Agent: "forecaster"})
	if err != nil {
		panic(err)
	}
	slices.SortFunc(infos, func(a, b store.RunInfo) int { return strings.Compare(a.ID, b.ID) })
	for _, info := range infos {
		state, err := ratchet.LoadState(ctx, st, info.ID)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s steps=%d %q\n", info.ID, info.Status, state.Step, state.Output)
	}
	// Output:
	// forecast-1 succeeded
	// forecast-2 succeeded
	// forecast-3 succeeded
	// forecast-1 succeeded steps=2 "Oslo: snow"
	// forecast-2 succeeded steps=2 "Lima: sun"
	// forecast-3 succeeded steps=2 "Pune: rain"
}
