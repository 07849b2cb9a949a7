package pbx

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/media"
)

// mediaTimedOut is how a call ends when a party's media or its session
// timer stops: the PBX sends BYE to both, as after an answer.
var mediaTimedOut = ended{Hangup: events.Hangup{Cause: events.CauseMediaTimeout, SIPCode: sip.StatusOK, By: events.System}}

// mediaWatch follows the RTP each party of an answered call sends, from
// the relay's packet counters: the relay itself never reports to the owner
// but DTMF, and polling two counters a few times per timeout costs less
// than a message per packet.
type mediaWatch struct {
	legs [2]Leg // the bridge ends the counts are for
	seen [2]uint64
	last [2]time.Time // when side's count last moved
}

// mediaCheckPeriod is how often the media watch looks: a call ends within
// an eighth of the timeout after it expires.
func mediaCheckPeriod(timeout time.Duration) time.Duration {
	return max(timeout/8, 100*time.Millisecond)
}

// watchMedia starts the media watch, once the caller is answered.
func (c *call) watchMedia() {
	if c.p.conf().MediaTimeout > 0 && c.timers[timerMedia] == nil {
		c.setTimer(timerMedia, mediaCheckPeriod(c.p.conf().MediaTimeout))
	}
}

// checkMedia ends the call when a party bridged in it has sent no RTP for
// the media timeout. A party facing an app leg (an IVR, a queue's music) is
// watched too; the app leg is not. A call on hold, or with one-way media (sendonly, recvonly,
// inactive on either side), is exempt while it lasts, and its clock starts
// again after.
func (c *call) checkMedia() state {
	now, timeout := time.Now(), c.p.conf().MediaTimeout
	up := c.state == stateConnected || c.state == stateAppAnswered || c.state == stateQueued && c.queue.music != nil
	for s := range c.mw.legs {
		side := media.Side(s)
		l := c.br.ends[side]
		_, dialog := l.(*dialogLeg)
		n := c.br.relay.Packets(side)
		if !up || !dialog || l != c.mw.legs[s] || c.br.quiet() || n != c.mw.seen[s] {
			c.mw.legs[s], c.mw.seen[s], c.mw.last[s] = l, n, now
			continue
		}
		if idle := now.Sub(c.mw.last[s]); idle >= timeout {
			c.p.log.Info("no media from a party; hanging up", "call_uuid", c.id, "leg_uuid", l.ID(), "party", l.Party(), "idle", idle.Round(time.Millisecond))
			return c.terminate(mediaTimedOut)
		}
	}
	c.setTimer(timerMedia, mediaCheckPeriod(timeout))
	return c.state
}

// sessionTimer is an RFC 4028 session timer on one dialog: the session
// lasts interval from its last refresh, and either the PBX or the party
// refreshes it.
type sessionTimer struct {
	interval time.Duration
	// pbx: the PBX refreshes (re-INVITE at half the interval); else the
	// party must, and the session expires without it.
	pbx bool
	// expires is when the session ends without a refresh.
	expires time.Time
}

// sessionExpires is a Session-Expires header read (RFC 4028 §4).
type sessionExpires struct {
	interval  time.Duration
	refresher string // "uac", "uas" or ""
}

// headerReader is a SIP request or response.
type headerReader interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// readSessionExpires reads the Session-Expires (or its compact form x) of
// m; ok is false when there is none, err set when it is malformed.
func readSessionExpires(m headerReader) (se sessionExpires, ok bool, err error) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return se, false, nil
	}
	v, params, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || secs == 0 {
		return se, true, fmt.Errorf("Session-Expires %q is not a number of seconds", h.Value())
	}
	se.interval = time.Duration(secs) * time.Second
	for p := range strings.SplitSeq(params, ";") {
		if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "refresher") {
			se.refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return se, true, nil
}

// supportsTimer reports whether m's Supported (or Require) lists timer.
func supportsTimer(m headerReader) bool {
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range m.GetHeaders(name) {
			for t := range strings.SplitSeq(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(t), "timer") {
					return true
				}
			}
		}
	}
	return false
}

// checkSessionExpires answers 422 (RFC 4028 §6) to a request whose
// Session-Expires is shorter than the PBX's Min-SE, or 400 when it cannot
// be read; ok is false when it answered.
func (p *PBX) checkSessionExpires(req *sip.Request, respond func(*sip.Response)) (se sessionExpires, has, ok bool) {
	se, has, err := readSessionExpires(req)
	switch {
	case err != nil:
		res := sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil)
		res.AppendHeader(warning(err.Error()))
		respond(res)
		return se, has, false
	case has && se.interval < p.conf().MinSE:
		res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
		res.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(p.conf().MinSE/time.Second))))
		respond(res)
		return se, has, false
	}
	return se, has, true
}

// uasSession is the session timer the PBX agrees to as the UAS of req,
// which asked for se (RFC 4028 §9): the refresher the party named, else
// the party when it supports timers, else the PBX.
func uasSession(req *sip.Request, se sessionExpires) *sessionTimer {
	pbx := se.refresher == "uas" || (se.refresher == "" && !supportsTimer(req))
	return &sessionTimer{interval: se.interval, pbx: pbx}
}

// uasHeaders are the headers of a 2xx to a request that asked for st:
// Session-Expires naming the refresher from the request's point of view,
// and Require: timer when the party is to refresh (RFC 4028 §9).
func (st *sessionTimer) uasHeaders() []sip.Header {
	refresher := "uac"
	if st.pbx {
		refresher = "uas"
	}
	hdrs := []sip.Header{sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(st.interval/time.Second), refresher))}
	if !st.pbx {
		hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
	}
	return hdrs
}

// uacSession is the session timer a 2xx to the PBX's INVITE or refresh
// sets up (RFC 4028 §7.2): none without Session-Expires; the PBX refreshes
// unless the party took it on (refresher=uas).
func uacSession(res *sip.Response) *sessionTimer {
	se, ok, err := readSessionExpires(res)
	if !ok || err != nil {
		return nil
	}
	return &sessionTimer{interval: se.interval, pbx: se.refresher != "uas"}
}

// uacHeaders are what the PBX's INVITE to a callee asks for: a session
// interval, the least it accepts, and that it supports timers.
func (p *PBX) uacHeaders(interval time.Duration) []sip.Header {
	return []sip.Header{
		sip.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))),
		sip.NewHeader("Min-SE", strconv.Itoa(int(p.conf().MinSE/time.Second))),
		sip.NewHeader("Supported", "timer"),
	}
}

// sessionTimerKind is the timer of the session on side s.
func sessionTimerKind(s media.Side) timerKind { return timerSessionA + timerKind(s) }

// armSession (re)starts the session timer of l from now: at half the
// interval when the PBX refreshes, else when the session expires, which
// RFC 4028 §10 puts a little before the interval ends (a third of it, at
// most 32 s).
func (c *call) armSession(l *dialogLeg) {
	k := sessionTimerKind(l.side())
	if l.st == nil {
		c.stopTimer(k)
		return
	}
	l.st.expires = time.Now().Add(l.st.interval)
	if l.st.pbx {
		c.setTimer(k, l.st.interval/2)
		return
	}
	c.setTimer(k, l.st.interval-min(32*time.Second, l.st.interval/3))
}

// sessionDue handles the session timer of side s firing: the PBX refreshes
// the session, or it has expired.
func (c *call) sessionDue(s media.Side) state {
	l, ok := c.br.ends[s].(*dialogLeg)
	if !ok || l.st == nil {
		return c.state
	}
	if !l.st.pbx || time.Now().After(l.st.expires) {
		c.p.log.Info("session timer expired; hanging up", "call_uuid", c.id, "leg_uuid", l.id, "party", l.party)
		return c.terminate(mediaTimedOut)
	}
	if c.br.updating {
		// An offer is being relayed on the call: refresh once it is done.
		c.setTimer(sessionTimerKind(s), time.Second)
		return c.state
	}
	c.br.updating = true
	interval := l.st.interval
	c.p.wg.Add(1)
	go func() {
		defer c.p.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, relayTimeout)
		defer cancel()
		// The refresh offers the session as it stands: the SDP the party
		// last had, its version unchanged (RFC 3264 §8).
		hdrs := []sip.Header{
			sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(interval/time.Second))),
			sip.NewHeader("Min-SE", strconv.Itoa(int(c.p.conf().MinSE/time.Second))),
			sip.NewHeader("Supported", "timer"),
		}
		res, err := l.request(ctx, sip.INVITE, "application/sdp", l.sdp, hdrs...)
		if err == nil && res.IsSuccess() {
			if err := l.ack(res); err != nil {
				c.p.log.Info("ack session refresh", "call_uuid", c.id, "err", err)
			}
		}
		c.post(msgRefreshed{leg: l, res: res, err: err})
	}()
	return c.state
}

// refreshRetry is how soon a refresh that was refused for a reason that
// leaves the session up (491, a 5xx) is tried again.
const refreshRetry = 2 * time.Second

// onRefreshed handles the answer to the PBX's session refresh: a 2xx
// renews the session; no answer, 408 or 481 means the party is gone (RFC
// 4028 §10); anything else is tried again while the session lasts.
func (c *call) onRefreshed(m msgRefreshed) state {
	c.br.updating = false
	l := m.leg
	s, ok := c.br.sideOf(l)
	if !ok || l.st == nil {
		return c.state
	}
	switch {
	case m.err != nil, m.res.StatusCode == sip.StatusRequestTimeout, m.res.StatusCode == sip.StatusCallTransactionDoesNotExists:
		c.p.log.Info("session refresh failed; hanging up", "call_uuid", c.id, "leg_uuid", l.id, "err", m.err)
		return c.terminate(mediaTimedOut)
	case m.res.IsSuccess():
		if st := uacSession(m.res); st != nil {
			l.st = st
		}
		c.armSession(l)
	case time.Now().Add(refreshRetry).Before(l.st.expires):
		c.setTimer(sessionTimerKind(s), refreshRetry)
	default:
		return c.terminate(mediaTimedOut)
	}
	return c.state
}
