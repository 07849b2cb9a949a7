package pbx

import (
	"github.com/switchhook/switchhook/internal/callrules"
	"github.com/switchhook/switchhook/internal/media"
)

// bridge joins two leg ends through the call's RTP relay: side A faces the
// caller, side B whoever the caller is connected to (a callee, an app leg,
// or nobody while something rings). It is apart from the call's identity so
// that one end can be replaced (a transfer's target, a picker, a queue's
// agent after its music) while the call and its events go on. The SDP
// origin and version toward each party stay with that party's dialog leg,
// since they belong to its dialog, not to the bridge.
type bridge struct {
	relay *media.Relay
	ends  [2]Leg
	// holds is whether each party holds: the call is held while either
	// does.
	holds callrules.Holds
	// oneWay is whether the last description of each side's party was not
	// sendrecv: the media watch leaves such a call be.
	oneWay [2]bool
	// updating is set while an offer from one end is relayed to the other:
	// a second offer crossing it is answered 491 (RFC 3261 §14.2).
	updating bool
}

func newBridge(relay *media.Relay, caller Leg) *bridge {
	return &bridge{relay: relay, ends: [2]Leg{caller, nil}}
}

// join puts l at side s, nil leaving that side empty.
func (b *bridge) join(s media.Side, l Leg) { b.ends[s] = l }

// sideOf reports which side l is on.
func (b *bridge) sideOf(l Leg) (media.Side, bool) {
	for s, e := range b.ends {
		if e != nil && e == l {
			return media.Side(s), true
		}
	}
	return 0, false
}

// other is the end across from side s.
func (b *bridge) other(s media.Side) Leg { return b.ends[1-s] }

// quiet reports whether a party may rightly send no media: the call is
// held, or either side's media is one-way.
func (b *bridge) quiet() bool { return b.holds.Held() || b.oneWay[0] || b.oneWay[1] }

// setMedia records the stream side's party described last.
func (b *bridge) setMedia(s media.Side, st media.Stream) {
	b.relay.SetRemote(s, st.Addr, st.EventRates())
	b.oneWay[s] = st.Direction != media.SendRecv || st.Held()
}
