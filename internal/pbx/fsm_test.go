package pbx

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/events"
)

// rung runs a call from 1001 to 1002 up to forking: the callee's 180
// relayed to the caller.
func rung(t *testing.T, f *fsm) (caller *call1, callee *party, inv sent) {
	t.Helper()
	caller = f.newParty("1001").dial("1002")
	callee = f.newParty("1002")
	inv = f.next(sip.INVITE)
	inv.reply(180, callee.tag, "")
	caller.response(180)
	return caller, callee, inv
}

// answered runs a call from 1001 to 1002 up to connected: routing →
// forking (180) → connected (200, ACK).
func answered(t *testing.T, f *fsm) (caller *call1, callee *party, inv sent) {
	t.Helper()
	caller, callee, inv = rung(t, f)
	inv.reply(200, callee.tag, callee.sdp())
	f.next(sip.ACK)
	caller.response(200)
	caller.ack()
	f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer)
	return caller, callee, inv
}

// Routing → forking → connected → ending on the caller's BYE: the callee
// gets BYE, CALL_HANGUP is NORMAL_CLEARING by the caller, and the API's
// leg states follow.
func TestFSMCallerHangsUp(t *testing.T) {
	t.Parallel()
	f := newFSM(t, nil, nil)
	caller, callee, inv := answered(t, f)
	chans := f.p.Channels()
	if len(chans) != 2 || chans[0].State != "answered" || chans[1].State != "answered" {
		t.Errorf("channels %+v", chans)
	}
	if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
		t.Errorf("caller's BYE answered %d", code)
	}
	bye := f.next(sip.BYE)
	bye.reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
	if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.By != events.Caller || h.SIPCode != 200 {
		t.Errorf("hangup %+v", h)
	}
	if bye.req.CallID().Value() != inv.req.CallID().Value() {
		t.Errorf("BYE on call %s, want the callee's %s", bye.req.CallID().Value(), inv.req.CallID().Value())
	}
	<-caller.done
	if n := len(f.p.Channels()); n != 0 {
		t.Errorf("%d channels left", n)
	}
	_ = callee
}

// Both parties send BYE at once: whichever the owner takes first ends the
// call, the other is answered too, and there is exactly one CALL_HANGUP.
func TestFSMConcurrentByes(t *testing.T) {
	t.Parallel()
	for range 5 {
		f := newFSM(t, nil, nil)
		caller, callee, inv := answered(t, f)
		var wg sync.WaitGroup
		var callerCode, calleeCode int
		wg.Add(2)
		go func() { defer wg.Done(); callerCode = finalCode(f.send(caller.request(sip.BYE, ""))) }()
		go func() {
			defer wg.Done()
			calleeCode = finalCode(f.send(calleeRequest(inv.req, callee.tag, sip.BYE, 1, "")))
		}()
		wg.Wait()
		if (callerCode != 200 && callerCode != 481) || (calleeCode != 200 && calleeCode != 481) {
			t.Errorf("BYEs answered %d (caller) and %d (callee)", callerCode, calleeCode)
		}
		// The PBX's BYE to whoever it did not hear from first crosses
		// that party's own BYE.
		f.next(sip.BYE).reply(200, "", "")
		evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.SIPCode != 200 || (h.By != events.Caller && h.By != events.Callee) {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
		f.quiet(200 * time.Millisecond)
	}
}

// The caller's BYE of its early dialog and the callee's 200 OK cross: in
// either order there is one end, the callee is released and the caller's
// INVITE is answered once.
func TestFSMByeRacingAnswer(t *testing.T) {
	t.Parallel()
	t.Run("bye first", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller, callee, inv := rung(t, f)
		if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
			t.Errorf("early BYE answered %d", code)
		}
		caller.response(487)
		// The callee had answered as the CANCEL reached it: it accepts the
		// CANCEL, which changes nothing, and its 200 OK follows. The PBX
		// acknowledges the late answer and hangs it up.
		f.next(sip.CANCEL).reply(200, "", "")
		inv.reply(200, callee.tag, callee.sdp())
		f.next(sip.BYE).reply(200, "", "")
		evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseOriginatorCancel || h.By != events.Caller || h.SIPCode != 487 {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
	})
	t.Run("answer first", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller, callee, inv := rung(t, f)
		inv.reply(200, callee.tag, callee.sdp())
		caller.response(200)
		// The caller's BYE was sent before it saw the 200: it ends the
		// answered call.
		if code := finalCode(f.send(caller.request(sip.BYE, ""))); code != 200 {
			t.Errorf("BYE answered %d", code)
		}
		f.next(sip.BYE).reply(200, "", "")
		evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.By != events.Caller {
			t.Errorf("hangup %+v", h)
		}
		caller.ack()
		<-caller.done
	})
}

// The caller's CANCEL and the callee's 200 OK cross.
func TestFSMCancelRacingAnswer(t *testing.T) {
	t.Parallel()
	cancelOf := func(c *call1) *sip.Request {
		req := sip.NewRequest(sip.CANCEL, c.invite.Recipient)
		req.AppendHeader(sip.HeaderClone(c.invite.Via()))
		req.AppendHeader(sip.HeaderClone(c.invite.From()))
		req.AppendHeader(sip.HeaderClone(c.invite.To()))
		req.AppendHeader(sip.HeaderClone(c.invite.CallID()))
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.CANCEL})
		req.SetSource("127.0.0.1:5071")
		return req
	}
	t.Run("cancel first", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller, callee, inv := rung(t, f)
		if err := caller.tx.Receive(cancelOf(caller)); err != nil {
			t.Fatal(err)
		}
		caller.response(487)
		f.next(sip.CANCEL).reply(200, "", "")
		inv.reply(200, callee.tag, callee.sdp())
		f.next(sip.BYE).reply(200, "", "")
		evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseOriginatorCancel || h.By != events.Caller || h.SIPCode != 487 {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
	})
	t.Run("answer first", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller, callee, inv := rung(t, f)
		inv.reply(200, callee.tag, callee.sdp())
		caller.response(200)
		// A CANCEL after the 2xx changes nothing (RFC 3261 §9.2).
		caller.tx.Receive(cancelOf(caller))
		caller.ack()
		f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer)
		f.quiet(200 * time.Millisecond)
		finalCode(f.send(caller.request(sip.BYE, "")))
		f.next(sip.BYE).reply(200, "", "")
		f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup)
		<-caller.done
	})
}

// A re-INVITE from the callee while the caller's is being relayed to it is
// refused 491 (RFC 3261 §14.2); the first completes.
func TestFSMReinviteGlare(t *testing.T) {
	t.Parallel()
	f := newFSM(t, nil, nil)
	caller, callee, inv := answered(t, f)
	first := make(chan int, 1)
	go func() { first <- finalCode(f.send(caller.request(sip.INVITE, caller.sdp("a=sendonly")))) }()
	relayed := f.next(sip.INVITE)
	if code := finalCode(f.send(calleeRequest(inv.req, callee.tag, sip.INVITE, 1, callee.sdp()))); code != 491 {
		t.Errorf("crossing re-INVITE answered %d, want 491", code)
	}
	relayed.reply(200, "", callee.sdp("a=recvonly"))
	if code := <-first; code != 200 {
		t.Errorf("first re-INVITE answered %d", code)
	}
	f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHold)
}

// Shutdown in each state: CALL_HANGUP SYSTEM_SHUTDOWN by the system, 503
// to a caller still waiting (its callees cancelled), BYE to the parties of
// an answered call.
func TestFSMShutdownInEveryState(t *testing.T) {
	t.Parallel()
	ivr := func(c *Config) {
		c.IVRs = append(c.IVRs, dialplan.IVR{Number: "700", Options: map[string]string{"1": "1002"}})
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		setup  func(t *testing.T, f *fsm) *call1
		kinds  []events.Kind
		code   int
		caller int // final response the caller gets, 0 for BYE
		cancel bool
		byes   int
	}{
		{name: "forking", setup: func(t *testing.T, f *fsm) *call1 {
			c := f.newParty("1001").dial("1002")
			f.next(sip.INVITE).reply(180, "callee", "")
			c.response(180)
			return c
		}, kinds: []events.Kind{events.CallRouted, events.CallRinging, events.CallHangup}, code: 503, caller: 503, cancel: true},
		{name: "early", setup: func(t *testing.T, f *fsm) *call1 {
			c := f.newParty("1001").dial("1002")
			f.next(sip.INVITE).reply(183, "callee", f.newParty("1002").sdp())
			c.response(183)
			return c
		}, kinds: []events.Kind{events.CallRouted, events.CallRinging, events.CallHangup}, code: 503, caller: 503, cancel: true},
		{name: "connected", setup: func(t *testing.T, f *fsm) *call1 {
			c, _, _ := answered(t, f)
			return c
		}, kinds: []events.Kind{events.CallRouted, events.CallRinging, events.CallAnswer, events.CallHangup}, code: 200, byes: 2},
		{name: "app answered", edit: ivr, setup: func(t *testing.T, f *fsm) *call1 {
			c := f.newParty("1001").dial("700")
			c.response(200)
			c.ack()
			f.waitEvents(2)
			return c
		}, kinds: []events.Kind{events.CallRouted, events.CallAnswer, events.CallHangup}, code: 200, byes: 1},
		{name: "forking after an app answered", edit: ivr, setup: func(t *testing.T, f *fsm) *call1 {
			c := f.newParty("1001").dial("700")
			c.response(200)
			c.ack()
			f.waitEvents(2)
			info := c.request(sip.INFO, "")
			info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
			info.SetBody([]byte("Signal=1\r\nDuration=160\r\n"))
			f.send(info)
			f.next(sip.INVITE).reply(180, "callee", "")
			f.waitEvents(4)
			return c
		}, kinds: []events.Kind{events.CallRouted, events.CallAnswer, events.CallInput, events.CallRinging, events.CallHangup}, code: 503, cancel: true, byes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFSM(t, tc.edit, nil)
			c := tc.setup(t, f)
			f.shutdown()
			if tc.caller != 0 {
				c.response(tc.caller)
			}
			if tc.cancel {
				f.next(sip.CANCEL).reply(200, "", "")
				f.invites[len(f.invites)-1].reply(487, "callee", "")
			}
			for range tc.byes {
				f.next(sip.BYE).reply(200, "", "")
			}
			evs := f.wantKinds(tc.kinds...)
			if h := hangupOf(t, evs); h.Cause != events.CauseSystemShutdown || h.By != events.System || h.SIPCode != tc.code {
				t.Errorf("hangup %+v", h)
			}
			<-c.done
		})
	}
}

// Each state's other ways out.
func TestFSMTransitions(t *testing.T) {
	t.Parallel()
	t.Run("early media then answer", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller := f.newParty("1001").dial("1002")
		callee := f.newParty("1002")
		inv := f.next(sip.INVITE)
		inv.reply(183, callee.tag, callee.sdp())
		if r := caller.response(183); len(r.Body()) == 0 {
			t.Error("183 to the caller has no SDP")
		}
		f.waitEvents(2)
		if chans := f.p.Channels(); len(chans) != 2 || chans[1].State != "early" || chans[0].State != "ringing" {
			t.Errorf("channels in early media %+v", chans)
		}
		inv.reply(200, callee.tag, callee.sdp())
		caller.response(200)
		caller.ack()
		f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer)
	})
	t.Run("a 180 dropped by its transaction still rings", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller := f.newParty("1001").dial("1002")
		callee := f.newParty("1002")
		inv := f.next(sip.INVITE)
		// The 180 came off the wire first but reached the transaction
		// after the 200 OK, which dropped it.
		ringing := sip.NewResponseFromRequest(inv.req, sip.StatusRinging, "Ringing", nil)
		f.p.onWire(ringing)
		inv.reply(200, callee.tag, callee.sdp())
		caller.response(180)
		caller.response(200)
		caller.ack()
		f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer)
	})
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, nil, nil)
		caller := f.newParty("1001").dial("1002")
		f.next(sip.INVITE).reply(486, "callee", "")
		caller.response(486)
		evs := f.wantKinds(events.CallRouted, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseUserBusy || h.By != events.Callee || h.SIPCode != 486 {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, func(c *Config) { c.RingTimeout = 300 * time.Millisecond }, nil)
		caller := f.newParty("1001").dial("1002")
		f.next(sip.INVITE).reply(180, "callee", "")
		f.next(sip.CANCEL).reply(200, "", "")
		f.invites[0].reply(487, "callee", "")
		caller.response(480)
		evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseNoAnswer || h.By != events.System || h.SIPCode != 480 {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
	})
	t.Run("sequential group: busy member, next answers", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, func(c *Config) {
			c.RingGroups = []dialplan.RingGroup{{Number: "600", Strategy: dialplan.Sequential, Members: []string{"1002", "1003"}}}
		}, nil)
		caller := f.newParty("1001").dial("600")
		first := f.next(sip.INVITE)
		if first.req.Recipient.User != "1002" {
			t.Errorf("first INVITE to %s", first.req.Recipient.User)
		}
		first.reply(486, "b", "")
		second := f.next(sip.INVITE)
		if second.req.Recipient.User != "1003" {
			t.Errorf("second INVITE to %s", second.req.Recipient.User)
		}
		second.reply(200, "c", f.newParty("1003").sdp())
		caller.response(200)
		caller.ack()
		evs := f.wantKinds(events.CallRouted, events.CallAnswer)
		if evs[1].DestinationNumber != "1003" {
			t.Errorf("answered by %s", evs[1].DestinationNumber)
		}
	})
	t.Run("ivr digit routes, the choice rings and answers", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, func(c *Config) {
			c.IVRs = []dialplan.IVR{{Number: "700", Options: map[string]string{"1": "1002"}}}
		}, nil)
		caller := f.newParty("1001").dial("700")
		caller.response(200)
		caller.ack()
		f.waitEvents(2)
		info := caller.request(sip.INFO, "")
		info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		info.SetBody([]byte("Signal=1\r\nDuration=160\r\n"))
		if code := finalCode(f.send(info)); code != 200 {
			t.Errorf("INFO answered %d", code)
		}
		inv := f.next(sip.INVITE)
		inv.reply(180, "callee", "")
		inv.reply(200, "callee", f.newParty("1002").sdp())
		evs := f.wantKinds(events.CallRouted, events.CallAnswer, events.CallInput, events.CallRinging, events.CallAnswer)
		if evs[1].DestinationNumber != "700" || evs[2].Digit != "1" || evs[4].DestinationNumber != "1002" {
			t.Errorf("events\n%s", dump(evs))
		}
		f.quiet(100 * time.Millisecond) // no re-INVITE: the caller's media stays as the IVR answered it
	})
	t.Run("ivr without default hangs up", func(t *testing.T) {
		t.Parallel()
		f := newFSM(t, func(c *Config) {
			c.IVRs = []dialplan.IVR{{Number: "700", Options: map[string]string{"1": "1002"}, DigitTimeout: 100 * time.Millisecond}}
		}, nil)
		caller := f.newParty("1001").dial("700")
		caller.response(200)
		caller.ack()
		f.next(sip.BYE).reply(200, "", "")
		evs := f.wantKinds(events.CallRouted, events.CallAnswer, events.CallHangup)
		if h := hangupOf(t, evs); h.Cause != events.CauseNormalClearing || h.By != events.System {
			t.Errorf("hangup %+v", h)
		}
		<-caller.done
	})
}

// gatedSink holds every Emit while its gate is shut, as a store that
// stalls for seconds would.
type gatedSink struct {
	next    events.Sink
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting int
}

func (g *gatedSink) Emit(ctx context.Context, e events.Event) error {
	g.mu.Lock()
	gate := g.gate
	if gate != nil {
		g.waiting++
	}
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.next.Emit(ctx, e)
}

func (g *gatedSink) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
}

func (g *gatedSink) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.gate)
	g.gate = nil
}

func (g *gatedSink) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// While the store blocks for seconds, the call's media keeps flowing both
// ways and its DTMF is still read: the relay never waits on the owner. Once
// the store answers, the events come in order.
func TestFSMBlockedStoreDoesNotStallMedia(t *testing.T) {
	t.Parallel()
	gs := &gatedSink{}
	f := newFSM(t, nil, func(next events.Sink) events.Sink { gs.next = next; return gs })
	caller, callee, inv := answered(t, f)
	toA := relayAddr(t, caller.tx.Result()[len(caller.tx.Result())-1].Body())
	toB := relayAddr(t, inv.req.Body())

	gs.shut()
	caller.sendDigit(toA, 100, 1000, 1)
	waitFor(t, "the owner to block in Emit", func() bool { return gs.held() == 1 })
	start := time.Now()
	caller.sendDigit(toA, 200, 2000, 2)
	var sentA, sentB uint16
	for i := 0; i < 50; i++ {
		caller.sendRTP(toA, 300+sentA, 1)
		callee.sendRTP(toB, sentB, 1)
		sentA, sentB = sentA+1, sentB+1
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "media through the relay", func() bool { return callee.received() >= 50 && caller.received() >= 50 })
	if gs.held() != 1 {
		t.Fatalf("%d emits held; want the owner still blocked on the first", gs.held())
	}
	t.Logf("%d packets to the callee and %d to the caller in %s while the store blocked", callee.received(), caller.received(), time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Until(start.Add(2 * time.Second)))
	gs.open()
	finalCode(f.send(caller.request(sip.BYE, "")))
	f.next(sip.BYE).reply(200, "", "")
	evs := f.wantKinds(events.CallRouted, events.CallRinging, events.CallAnswer, events.CallInput, events.CallInput, events.CallHangup)
	if evs[3].Digit != "1" || evs[4].Digit != "2" || evs[3].DigitDuration != 100*time.Millisecond {
		t.Errorf("digits %q %q (%s), want 1 then 2 of 100ms", evs[3].Digit, evs[4].Digit, evs[3].DigitDuration)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].OccurredAt.Before(evs[i-1].OccurredAt) {
			t.Errorf("event %d (%s) occurred before the one before it", i, evs[i].Kind)
		}
	}
	<-caller.done
	if n := f.p.activeCalls(); n != 0 {
		t.Errorf("calls left: %d", n)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
