package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitest"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

func TestForwardingGetPutDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apitest.Forwarding)
	var f apitypes.Forward
	e.do("GET", "/v1/extensions/1002/forward", "").want(t, 200, &f)
	if f.Number != "1002" || f.UserBusy != "1003" || f.Source != "config" || f.UpdatedAt != nil || f.NoAnswerAfter != "" {
		t.Fatalf("config's forward: %+v", f)
	}
	e.do("PUT", "/v1/extensions/1002/forward", `{"no_answer":"9004930","no_answer_after":"12s","unavailable":"1001"}`).want(t, 200, &f)
	if f.UserBusy != "" || f.NoAnswer != "9004930" || f.NoAnswerAfter != "12s" || f.Unavailable != "1001" || f.Source != "api" || f.UpdatedAt == nil {
		t.Fatalf("after PUT: %+v", f)
	}
	// Kept in the store: the table reads it back, as the PBX will.
	row, err := e.st.GetForward(context.Background(), "1002")
	if err != nil || row.NoAnswer != "9004930" || row.NoAnswerAfter != 12*time.Second {
		t.Fatalf("stored: %+v, %v", row, err)
	}
	var list []apitypes.Forward
	e.do("GET", "/v1/forwards", "").want(t, 200, &list)
	if len(list) != 3 || list[0].Number != "1001" || list[1].Source != "api" || list[2].Source != "config" {
		t.Fatalf("list: %+v", list)
	}
	e.do("PUT", "/v1/extensions/1001/forward", `{"no_answer":"1003"}`).want(t, 200, &f)
	if f.NoAnswerAfter != "20s" {
		t.Errorf("default no_answer_after: %+v", f)
	}
	e.do("DELETE", "/v1/extensions/1002/forward", "").want(t, 200, &f)
	if f.Source != "config" || f.UserBusy != "1003" || f.NoAnswer != "" {
		t.Fatalf("after DELETE: %+v", f)
	}
}

func TestForwardingRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apitest.Forwarding)
	put := func(number, body string) answer { return e.do("PUT", "/v1/extensions/"+number+"/forward", body) }
	put("4242", `{}`).wantError(t, 404, "number", `extension "4242" not found`)
	e.do("GET", "/v1/extensions/600/forward", "").wantError(t, 404, "number", `"600" not found`)
	e.do("DELETE", "/v1/extensions/x/forward", "").wantError(t, 404, "number", "not found")
	put("1001", `{"user_busy":"1001"}`).wantError(t, 400, "user_busy", "forwards extension 1001 to itself")
	put("1001", `{"unavailable":"555"}`).wantError(t, 400, "unavailable", `"555" is no extension, ring group or IVR and matches no route`)
	put("1001", `{"no_answer":"1002","no_answer_after":"soon"}`).wantError(t, 400, "no_answer_after", `"soon" is not a duration`)
	put("1001", `{"no_answer":"1002","no_answer_after":"0s"}`).wantError(t, 400, "no_answer_after", "between 1s and 10m0s")
	put("1001", `{"no_answer":"1002","no_answer_after":"45s"}`).wantError(t, 400, "no_answer_after", "not shorter than the ring timeout 30s")
	put("1001", `{"busy":"1002"}`).wantError(t, 400, "busy", `unknown field "busy"`)
	put("1001", `{"user_busy":1002}`).wantError(t, 400, "user_busy", "want a string")
	put("1001", ``).wantError(t, 400, "", "request body is empty")
	e.do("PUT", "/v1/extensions/1001/forward?x=1", `{}`).wantError(t, 400, "x", "unknown query parameter")
	e.do("POST", "/v1/extensions/1001/forward", `{}`).want(t, 405, nil)
	// Nothing refused was kept.
	var f apitypes.Forward
	e.do("GET", "/v1/extensions/1001/forward", "").want(t, 200, &f)
	if f.Source != "config" || f != (apitypes.Forward{Number: "1001", Source: "config"}) {
		t.Errorf("after refusals: %+v", f)
	}
}

func TestForwardingWithoutPBX(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/v1/forwards", "").wantError(t, 404, "", "needs the built-in PBX")
	e.do("PUT", "/v1/extensions/1001/forward", `{}`).wantError(t, 404, "", "needs the built-in PBX")
}

// A call's page lists its moves and the calls of its session.
func TestCallMovesAndSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)
	first, consult := newUUID(), newUUID()
	emit := func(ev events.Event) {
		t.Helper()
		if err := e.rec.Emit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ev := func(call, session string, k events.Kind, dest string, s int) events.Event {
		return events.Event{Kind: k, CallUUID: call, SessionUUID: session, CallerIDNumber: "1001", DestinationNumber: dest,
			OccurredAt: at.Add(time.Duration(s) * time.Second), Direction: events.Internal, Source: "pbx", LegUUID: newUUID()}
	}
	r := ev(first, first, events.CallRouted, "1002", 0)
	r.RoutedTo = &events.Target{Type: events.Extension, Target: "1002"}
	emit(r)
	emit(ev(first, first, events.CallRinging, "1002", 1))
	emit(ev(first, first, events.CallAnswer, "1002", 2))
	c := ev(consult, first, events.CallRouted, "1003", 3)
	c.CallerIDNumber, c.RoutedTo = "1002", &events.Target{Type: events.Extension, Target: "1003"}
	emit(c)
	ringing := ev(first, first, events.CallRinging, "1003", 5)
	ringing.Diversion = &events.Diversion{From: "1002", Reason: events.DivertTransfer}
	emit(ringing)
	answer := ev(first, first, events.CallAnswer, "1003", 6)
	answer.Diversion = ringing.Diversion
	emit(answer)
	eventually(t, "the events to be stored", func() bool {
		evs, _ := e.st.ListEvents(ctx, store.EventFilter{CallUUID: first})
		return len(evs) == 5
	})
	var d apitypes.CallDetail
	e.do("GET", "/v1/calls/"+first, "").want(t, 200, &d)
	if len(d.Moves) != 1 || d.Moves[0] != (apitypes.Move{At: at.Add(5 * time.Second), Reason: "transfer", From: "1002", To: "1003"}) {
		t.Errorf("moves %+v", d.Moves)
	}
	if len(d.SessionCalls) != 2 || d.SessionCalls[0].CallUUID != first || d.SessionCalls[1].CallUUID != consult {
		t.Errorf("session calls %+v", d.SessionCalls)
	}
	var calls []apitypes.Call
	e.do("GET", "/v1/calls?session="+first, "").want(t, 200, &calls)
	if len(calls) != 2 || calls[0].CallUUID != consult {
		t.Errorf("calls of the session: %+v", calls)
	}
	if !strings.Contains(string(e.do("GET", "/v1/calls/"+consult, "").body), `"moves":[]`) {
		t.Error("a call that did not move has no empty moves list")
	}
}
