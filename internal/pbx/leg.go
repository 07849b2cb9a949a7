package pbx

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/media"
)

// LegState is where one leg of a call is. Its text is what GET /v1/channels
// shows.
type LegState int

// Leg states.
const (
	LegRouted   LegState = iota // the caller's leg before anything rings
	LegRinging                  // a callee is alerted, or the caller hears it
	LegEarly                    // a callee sends early media
	LegAnswered                 // the party is in the call
	LegDone                     // an app leg that finished (an IVR that routed)
	LegHungUp                   // a callee that answered too late, or unusably, and was hung up
	LegFailed                   // a callee that refused or could not be reached
)

var legStates = [...]string{"routed", "ringing", "early", "answered", "done", "hung up", "failed"}

func (s LegState) String() string { return legStates[s] }

// Leg is one party of a call: the caller's dialog, a callee's dialog, or an
// app leg (media the PBX plays itself). A call has any number of legs; a
// bridge joins two of them. Only the call's owner calls these methods.
type Leg interface {
	ID() string
	// Number is the party's extension, IVR or outside number.
	Number() string
	Party() events.Party
	State() LegState
	setState(LegState)
	// side is where the call's relay faces the party.
	side() media.Side
	// hangup releases the party from a call that is over: BYE on an
	// established dialog; an app leg has nothing to release.
	hangup(ctx context.Context) error
	// channel is the leg as the API shows it, without call-wide fields.
	channel() Channel
}

// legBase is what every kind of leg has.
type legBase struct {
	id      string
	number  string
	party   events.Party
	created time.Time
	state   LegState
}

func newLegBase(number string, party events.Party, state LegState) legBase {
	return legBase{id: uuid.NewString(), number: number, party: party, created: time.Now(), state: state}
}

func (l *legBase) ID() string          { return l.id }
func (l *legBase) Number() string      { return l.number }
func (l *legBase) Party() events.Party { return l.party }
func (l *legBase) State() LegState     { return l.state }
func (l *legBase) setState(s LegState) { l.state = s }
func (l *legBase) base(c *call) Channel {
	return Channel{
		CallUUID: c.id, LegUUID: l.id, Party: l.party, Number: l.number, Direction: c.direction,
		State: l.state.String(), CreatedAt: l.created.UTC(),
	}
}

// dialogLeg is a party reached by SIP: the caller's dialog (server), or a
// callee's (client). Both directions hold, re-INVITE, send INFO and are
// sent BYE the same way, so one type serves both, as diago's DialogSession
// does.
type dialogLeg struct {
	legBase
	c      *call
	server *sipgo.DialogServerSession // the caller's dialog
	client *sipgo.DialogClientSession // a callee's, once its INVITE is sent
	target dialTarget                 // where a callee's INVITE goes
	cancel context.CancelCauseFunc    // stops a callee ringing
	// responded is set by the dialling goroutine once the INVITE got any
	// response: from then on it may be cancelled (RFC 3261 §9.1).
	responded atomic.Bool
	round     int  // the ring round the callee was rung in
	rang      bool // CALL_RINGING was emitted for it
	// wireRang is set, in the order messages come off the wire, when the
	// callee sent 180 or 183 (PBX.onWire).
	wireRang atomic.Bool
	final    bool // its INVITE has its final outcome

	origin media.Origin // of the SDP the PBX sends the party
	sdp    []byte       // the last SDP the PBX sent the party
	st     *sessionTimer
}

// dialTarget is where a callee's INVITE goes: a registered contact of an
// extension, or a gateway.
type dialTarget struct {
	uri       sip.Uri          // Request-URI
	to        sip.Uri          // To
	dest      string           // host:port the INVITE is sent to
	transport string           // "udp" or "tcp"
	gw        *gateway.Gateway // nil for an extension's phone
	// diversion is the Diversion header of a forwarded call to a gateway.
	diversion string
	// uriText is uri as text, made once: the API's view of the call shows
	// it each time the view is made.
	uriText string
}

func newDialogLeg(c *call, number string, party events.Party, state LegState) *dialogLeg {
	return &dialogLeg{
		legBase: newLegBase(number, party, state), c: c,
		origin: media.Origin{SessionID: rand.Uint64N(1 << 62), Version: 1},
	}
}

// side is where the relay faces the party: the caller on A, whoever it is
// connected to on B, whichever way the party's dialog was set up (a picker
// of a ringing call dialled the PBX, as a caller does).
func (l *dialogLeg) side() media.Side {
	if l.party == events.Caller {
		return media.SideA
	}
	return media.SideB
}

func (l *dialogLeg) hangup(ctx context.Context) error {
	if l.server != nil {
		return l.server.Bye(ctx)
	}
	if l.client != nil {
		return l.client.Bye(ctx)
	}
	return nil
}

func (l *dialogLeg) channel() Channel {
	ch := l.base(l.c)
	if l.c.br != nil {
		ch.RTPPort = l.c.br.relay.Port(l.side())
	}
	if l.server != nil {
		ch.Remote = l.server.InviteRequest.Source()
	} else {
		if l.target.uriText == "" {
			l.target.uriText = l.target.uri.String()
		}
		ch.Remote = l.target.uriText
	}
	return ch
}

// dialog is the sipgo dialog of the leg.
func (l *dialogLeg) dialog() *sipgo.Dialog {
	if l.server != nil {
		return &l.server.Dialog
	}
	return &l.client.Dialog
}

// contact is the PBX's Contact toward the party on the leg.
func (l *dialogLeg) contact() *sip.ContactHeader {
	network := l.target.transport
	if l.server != nil {
		network = l.server.InviteRequest.Transport()
	}
	return &l.c.p.transportTo(network, l.remoteIP()).ua.ContactHDR
}

// request sends an in-dialog request to the party on the leg and waits for
// the final response.
func (l *dialogLeg) request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	// NewRequest copies target's parameters itself.
	build := func(target sip.Uri) *sip.Request {
		req := sip.NewRequest(method, target)
		for _, h := range hdrs {
			req.AppendHeader(h)
		}
		if body != nil {
			req.AppendHeader(sip.NewHeader("Content-Type", contentType))
			req.SetBody(body)
		}
		return req
	}
	if l.server != nil {
		return l.server.Do(ctx, build(l.server.InviteRequest.Contact().Address))
	}
	target := l.client.InviteRequest.Recipient
	if ct := l.client.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	return l.client.Do(ctx, build(target))
}

// ack acknowledges the 2xx of a re-INVITE the PBX sent on the leg.
func (l *dialogLeg) ack(res *sip.Response) error {
	if l.server != nil {
		return l.server.WriteRequest(sip.NewRequest(sip.ACK, l.server.InviteRequest.Contact().Address))
	}
	target := l.client.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	} else if ct := l.client.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	return l.client.WriteRequest(sip.NewRequest(sip.ACK, target))
}

// appLeg is the PBX itself as a party: an IVR, or a queue's music.
// Its media is what the call's owner plays into the relay toward the other
// end of the bridge.
type appLeg struct {
	legBase
	c    *call
	what string // what plays, as the API shows it: "ivr" or "queue"
}

func newAppLeg(c *call, number string) *appLeg {
	return &appLeg{legBase: newLegBase(number, events.Callee, LegAnswered), c: c}
}

func (l *appLeg) side() media.Side { return media.SideB }

func (l *appLeg) hangup(context.Context) error { return nil }

func (l *appLeg) channel() Channel {
	ch := l.base(l.c)
	ch.Remote = l.what
	return ch
}
