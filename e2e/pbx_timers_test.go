package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startTimersPBX starts the process with extensions 1001 and 1002 and
// sipExtra added to its sip: block (media_timeout, session timers), and
// one second of G.711 A-law silence for SIPp to stream.
func startTimersPBX(t *testing.T, ext *Receiver, sipExtra string) *pbxServer {
	t.Helper()
	port := freeUDPPort(t)
	cfg := pbxConfig(map[string]*Receiver{"extended": ext}, port)
	cfg.WriteString(sipExtra)
	cfg.WriteString("extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: secret-1002, name: Bob}\n")
	cfg.WriteString("ring_timeout: 5s\n")
	s := launchPBX(t, cfg.String(), port)
	if err := os.WriteFile(filepath.Join(s.dir, "stream.alaw"), bytes.Repeat([]byte{0xD5}, 8000), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// answeredCall is what an answered call from 1001 to 1002 emits before it
// ends with hangup.
func answeredCall(hooks []Webhook, hangup map[string]any) []hookWant {
	last := hooks[len(hooks)-1].Body
	hangup["answered_by"], hangup["duration"], hangup["billsec"] = "1002", last["duration"], last["billsec"]
	return []hookWant{
		{event: "CALL_ROUTED", leg: "A", ext: map[string]any{"routed_to": map[string]any{"type": "extension", "target": "1002"}}},
		{event: "CALL_RINGING", leg: "B"},
		{event: "CALL_ANSWER", leg: "B"},
		{event: "CALL_HANGUP", leg: "A", ext: hangup},
	}
}

var mediaTimeoutHangup = map[string]any{"hangup_cause": "MEDIA_TIMEOUT", "sip_code": float64(200), "hangup_by": "system"}

// A caller that stops sending RTP and never hangs up: after the media
// timeout the PBX sends BYE to both parties and the call ends
// MEDIA_TIMEOUT, by the system. The callee streams all along.
func TestPBXMediaTimeout(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	s := startTimersPBX(t, ext, "  media_timeout: 2s\n")
	callee := s.phone(t, "1002", "callee_stream.xml")
	start := time.Now()
	caller := s.dial(t, "caller_media_stop.xml", "1001", "1002")
	caller()
	callee()
	hooks := ext.WaitCount(t, 4, 20*time.Second)
	checkPBXCall(t, "extended", hooks, answeredCall(hooks, mediaTimeoutHangup))
	// One second of RTP, then two of silence, checked every quarter second.
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("call ended %s after it started: before the caller was silent for the timeout", took)
	}
}

// A call held (sendonly) with no RTP either way for twice the media
// timeout stays up: it ends when the caller, having unheld, hangs up.
func TestPBXHeldCallOutlivesMediaTimeout(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	s := startTimersPBX(t, ext, "  media_timeout: 2s\n")
	callee := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_hold_quiet.xml", "1001", "1002")()
	callee()
	hooks := ext.WaitCount(t, 6, 20*time.Second)
	last := hooks[len(hooks)-1].Body
	checkPBXCall(t, "extended", hooks, []hookWant{
		{event: "CALL_ROUTED", leg: "A", ext: map[string]any{"routed_to": map[string]any{"type": "extension", "target": "1002"}}},
		{event: "CALL_RINGING", leg: "B"},
		{event: "CALL_ANSWER", leg: "B"},
		{event: "CALL_HOLD", leg: "A", ext: map[string]any{"party": "caller"}},
		{event: "CALL_UNHOLD", leg: "A", ext: map[string]any{"party": "caller"}},
		{event: "CALL_HANGUP", leg: "A", ext: map[string]any{"hangup_cause": "NORMAL_CLEARING", "sip_code": float64(200), "hangup_by": "caller", "answered_by": "1002", "duration": last["duration"], "billsec": last["billsec"]}},
	})
}

// RFC 4028 as UAS toward the caller: a Session-Expires under min_se is
// refused 422 with Min-SE; the interval asked next is granted with the
// caller as refresher (Require: timer), and its UPDATE and re-INVITE
// refreshes are answered with the interval, keeping the call up past it.
func TestPBXSessionTimerRefreshedByCaller(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	s := startTimersPBX(t, ext, "  media_timeout: 0s\n  min_se: 2s\n  session_expires: 0s\n")
	callee := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_session_refresh.xml", "1001", "1002")()
	callee()
	hooks := ext.WaitCount(t, 4, 20*time.Second)
	checkPBXCall(t, "extended", hooks, answeredCall(hooks, map[string]any{"hangup_cause": "NORMAL_CLEARING", "sip_code": float64(200), "hangup_by": "caller"}))
}

// A session the caller was to refresh and did not expires: BYE to both,
// MEDIA_TIMEOUT by the system.
func TestPBXSessionTimerExpires(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	s := startTimersPBX(t, ext, "  media_timeout: 0s\n  min_se: 2s\n  session_expires: 0s\n")
	callee := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_session_expire.xml", "1001", "1002")()
	callee()
	hooks := ext.WaitCount(t, 4, 20*time.Second)
	checkPBXCall(t, "extended", hooks, answeredCall(hooks, mediaTimeoutHangup))
}

// The PBX refreshes: toward a caller that asked it to (refresher=uas), and
// as UAC toward a callee that answered its INVITE's interval with 422 and
// then left the refreshes to it. Both get a refreshing re-INVITE within
// the call.
func TestPBXSessionTimerRefreshedByPBX(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	s := startTimersPBX(t, ext, "  media_timeout: 0s\n  min_se: 2s\n  session_expires: 4s\n")
	callee := s.phone(t, "1002", "callee_answer.xml")
	s.dial(t, "caller_session_uas.xml", "1001", "1002")()
	callee()
	hooks := ext.WaitCount(t, 4, 20*time.Second)
	checkPBXCall(t, "extended", hooks, answeredCall(hooks, map[string]any{"hangup_cause": "NORMAL_CLEARING", "sip_code": float64(200), "hangup_by": "caller"}))

	callee = s.phone(t, "1002", "callee_session_timer.xml")
	s.dial(t, "caller_bye.xml", "1001", "1002", "-d", "3500")()
	callee()
	hooks = ext.WaitCount(t, 9, 20*time.Second)[4:]
	last := hooks[len(hooks)-1].Body
	checkPBXCall(t, "extended", hooks, []hookWant{
		{event: "CALL_ROUTED", leg: "A", ext: map[string]any{"routed_to": map[string]any{"type": "extension", "target": "1002"}}},
		{event: "CALL_RINGING", leg: "B"},
		{event: "CALL_ANSWER", leg: "B"},
		{event: "CALL_INPUT", leg: "A", std: map[string]any{"digit": "1", "digit_duration": float64(280)}, ext: map[string]any{"party": "caller"}},
		{event: "CALL_HANGUP", leg: "A", ext: map[string]any{"hangup_cause": "NORMAL_CLEARING", "sip_code": float64(200), "hangup_by": "caller", "answered_by": "1002", "duration": last["duration"], "billsec": last["billsec"]}},
	})
}

// A caller waiting in a queue on its music who goes silent without hanging
// up is ended by the media timeout like any answered call, long before the
// queue's max_wait: BYE to the caller, MEDIA_TIMEOUT by the system, the
// queue's outcome abandoned.
func TestPBXQueueCallerSilentOnMusic(t *testing.T) {
	t.Parallel()
	ext := NewReceiver(t)
	port := freeUDPPort(t)
	cfg := pbxConfig(map[string]*Receiver{"extended": ext}, port)
	cfg.WriteString("  media_timeout: 2s\nextensions:\n  - {number: \"1001\", password: secret-1001}\n  - {number: \"1003\", password: secret-1003}\n")
	cfg.WriteString("ring_timeout: 5s\nqueues:\n  - {number: \"600\", name: Support, agents: [\"1001\"], max_wait: 60s}\n")
	s := launchPBX(t, cfg.String(), port)
	if err := os.WriteFile(filepath.Join(s.dir, "stream.alaw"), bytes.Repeat([]byte{0xD5}, 8000), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.dial(t, "caller_media_stop.xml", "1003", "600")()
	hooks := ext.WaitCount(t, 3, 20*time.Second)
	c := routedCall{caller: "1003", direction: "internal"}
	checkPBXCall(t, "extended", hooks, []hookWant{
		with(c.routed("600", "queue", "600"), q(stay(t, hooks[0], "600", 0, 0, ""))),
		c.want("CALL_ANSWER", "Q", "600", q(stay(t, hooks[1], "600", 0, 0, ""))),
		with(c.hangup(t, hooks[2], "A", "600", "MEDIA_TIMEOUT", 200, "system", "600"), q(stay(t, hooks[2], "600", 2, 5, "abandoned"))),
	})
	if took := time.Since(start); took < 3*time.Second || took > 30*time.Second {
		t.Errorf("call ended %s after it started, want after 1 s of RTP and 2 s of silence, long before max_wait", took)
	}
}
