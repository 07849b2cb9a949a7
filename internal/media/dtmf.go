package media

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/diago/media"
	"github.com/pion/rtp"
)

// Digit is one DTMF key press that has ended.
type Digit struct {
	Digit    string        // one of 0-9 * # A-D
	Duration time.Duration // how long the key was held
}

// DefaultINFODuration is the duration given to a SIP INFO digit that does
// not state one: FreeSWITCH's default DTMF length, 2000 samples at 8 kHz.
const DefaultINFODuration = 250 * time.Millisecond

// DTMFDetector turns the RFC 4733 telephone-event packets of one RTP stream
// into digits. diago's RTPDtmfReader reports a digit without its duration,
// and the PBX relays packets rather than reading audio through diago, so the
// detector is ours; it decodes payloads with diago's media.DTMFDecode.
//
// A sender repeats the end packet of an event (usually three times) for
// robustness; the detector reports the event once, at the first end packet.
// The zero value is ready to use. A detector is not safe for concurrent use.
type DTMFDetector struct {
	ended   bool   // the last event seen has ended and was reported
	ssrc    uint32 // stream and timestamp of the last event seen
	ts      uint32
	endSeq  uint16 // sequence number of the first end packet
	started bool
}

// Packet examines one telephone-event packet whose clock rate is rate (Hz)
// and returns the digit when the packet ends a new event.
func (d *DTMFDetector) Packet(h *rtp.Header, payload []byte, rate uint32) (Digit, bool) {
	var ev media.DTMFEvent
	if err := media.DTMFDecode(payload, &ev); err != nil || ev.Event > 15 || rate == 0 {
		// Events above 15 are not DTMF keys (RFC 4733 §3.2: flash, tones).
		return Digit{}, false
	}
	same := d.started && h.SSRC == d.ssrc && h.Timestamp == d.ts
	if !ev.EndOfEvent {
		// A non-end packet of the event already reported is a late
		// retransmission unless it is newer than the end: then the sender
		// reuses the timestamp for a new press.
		if same && d.ended && int16(h.SequenceNumber-d.endSeq) <= 0 {
			return Digit{}, false
		}
		d.started, d.ssrc, d.ts, d.ended = true, h.SSRC, h.Timestamp, false
		return Digit{}, false
	}
	if same && d.ended {
		return Digit{}, false
	}
	d.started, d.ssrc, d.ts, d.ended, d.endSeq = true, h.SSRC, h.Timestamp, true, h.SequenceNumber
	ms := int64(ev.Duration) * 1000 / int64(rate)
	return Digit{Digit: string(media.DTMFToRune(ev.Event)), Duration: time.Duration(ms) * time.Millisecond}, true
}

// ParseINFO reads the DTMF digit of a SIP INFO body of content type
// application/dtmf-relay ("Signal=5\r\nDuration=160", duration in
// milliseconds) or application/dtmf (the digit alone). A body without a
// duration gets DefaultINFODuration.
func ParseINFO(contentType string, body []byte) (Digit, error) {
	ct, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(contentType)), ";")
	switch strings.TrimSpace(ct) {
	case "application/dtmf-relay":
		return parseDTMFRelay(body)
	case "application/dtmf":
		d, err := parseSignal(string(bytes.TrimSpace(body)))
		if err != nil {
			return Digit{}, err
		}
		return Digit{Digit: d, Duration: DefaultINFODuration}, nil
	}
	return Digit{}, fmt.Errorf("dtmf info: content type %q is not application/dtmf-relay or application/dtmf", contentType)
}

func parseDTMFRelay(body []byte) (Digit, error) {
	out := Digit{Duration: DefaultINFODuration}
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "signal":
			d, err := parseSignal(val)
			if err != nil {
				return Digit{}, err
			}
			out.Digit, seen = d, true
		case "duration":
			ms, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return Digit{}, fmt.Errorf("dtmf info: duration %q is not a whole number of milliseconds up to 65535", val)
			}
			out.Duration = time.Duration(ms) * time.Millisecond
		}
	}
	if err := sc.Err(); err != nil {
		return Digit{}, fmt.Errorf("dtmf info: %w", err)
	}
	if !seen {
		return Digit{}, fmt.Errorf("dtmf info: body has no Signal= line")
	}
	return out, nil
}

// parseSignal accepts one key, or the event codes 10 and 11 some phones send
// for * and #.
func parseSignal(s string) (string, error) {
	switch s {
	case "10":
		return "*", nil
	case "11":
		return "#", nil
	}
	if len(s) == 1 {
		c := s[0]
		if c >= 'a' && c <= 'd' {
			c -= 'a' - 'A'
		}
		if c >= '0' && c <= '9' || c == '*' || c == '#' || c >= 'A' && c <= 'D' {
			return string(c), nil
		}
	}
	return "", fmt.Errorf("dtmf info: signal %q is not one of 0-9 * # A-D", s)
}
