// Package ratchetotel traces Ratchet runs with OpenTelemetry. Its Observer
// is a ratchet.Observer that turns run, step, model call and tool call
// events into spans named and attributed by the OpenTelemetry GenAI
// semantic conventions. It lives in its own package so that the ratchet
// core does not import OpenTelemetry.
//
//	obs := ratchetotel.New(tp, nil)
//	defer obs.Close()
//	agent, err := ratchet.NewAgent(ratchet.Config{..., Observer: obs})
//
// # Spans
//
// A run is traced as a tree:
//
//	invoke_agent {agent}          the run, from start or resume to rest
//	└── ratchet.step              one Run.Step
//	    ├── chat {model}          one model call attempt (a failed one too)
//	    └── execute_tool {tool}   one tool call attempt
//
// The run span starts at run_started, as a child of the span in the
// context passed to Observe (so a caller's incoming trace is its parent).
// A run resumed while its span is open between steps (the Scheduler's
// worker loading a run its StartRun created) keeps that span. Otherwise a
// resumed run's span, marked ratchet.resumed, starts at its first
// step_started, under that step's context, so that a run loaded only to be
// looked at (the Scheduler loads runs that turn out not to be running)
// leaves no span open.
//
// The run span ends at run_suspended or run_ended. Those events arrive
// inside the step that caused them, so the run span ends just after that
// step's span. It also ends, with the step's error, after a step that
// failed without the run coming to rest (a cancelled context, a store
// failure), since Run.Wait returns then; a Run stepped again gets a new run
// span. A run_suspended or run_ended between steps (a resumed run
// cancelled, say) gets a zero-length run span.
//
// A step span starts at step_started and ends at step_finished. The
// Observer is a ratchet.CallObserver: a model or tool call's span starts
// when the call does (StartCall) and is the current span of the context
// the call runs with, so that spans the model client or the tool start
// from that context, and runs of an agent the tool calls, nest under it;
// the call's event ends it. A call event that comes without its StartCall
// (the Observer wrapped by one that does not pass StartCall on) gets a
// span made then, starting Latency or Duration before the event's Time.
// All timestamps come from the events, that is from the agent's Clock.
//
// Checkpoints and budget warnings become span events (ratchet.checkpoint,
// ratchet.budget_warning) on the open step span, or on the run span
// between steps.
//
// # Attributes
//
// Every span carries gen_ai.agent.name, gen_ai.conversation.id (the run ID)
// and ratchet.run_id. The run span adds gen_ai.operation.name
// "invoke_agent" and ratchet.status (its final status), ratchet.step;
// model call spans add gen_ai.operation.name "chat", gen_ai.request.model,
// gen_ai.response.model, gen_ai.response.finish_reasons,
// gen_ai.usage.input_tokens, gen_ai.usage.output_tokens, ratchet.attempt,
// ratchet.cost_usd and ratchet.retry_delay (seconds); tool call spans add
// gen_ai.operation.name "execute_tool", gen_ai.tool.name,
// gen_ai.tool.call.id, gen_ai.tool.type, ratchet.attempt,
// ratchet.idempotency_key, ratchet.arg_bytes and ratchet.result_bytes. The
// keys are constants of this package (Attr*), since the GenAI conventions
// are not yet stable.
//
// # Errors
//
// A span whose event carries an error gets status Error, with the error's
// text as description, and error.type set by ErrorType. A suspension
// (paused, waiting or sleeping) is not an error: its cause goes in
// ratchet.reason and the status is left unset. Error texts, model names,
// tool names and tool call IDs have already passed through the agent's
// Redactor, when it has one (see ratchet.Redactor). No prompt, completion,
// tool argument or tool result text is recorded, only sizes.
//
// # Concurrency and lifetime
//
// An Observer is safe for concurrent use: tool call events arrive from
// parallel goroutines and many runs may share one Observer. It keeps the
// open spans of each run in a map until the run suspends or ends, so
// memory stays bounded by the runs in flight. Shutdown (or Close) ends any
// spans still open, for example of runs abandoned mid-step, and makes the
// Observer ignore later events; it does not shut down the TracerProvider.
package ratchetotel
