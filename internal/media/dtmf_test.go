package media

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago/media"
	"github.com/pion/rtp"
)

// pcapDigit is the packet train of the RFC 2833 pcaps SIPp ships: start at
// duration 0, growing by 320, three end packets at 2240 (280 ms).
func pcapDigit(event uint8, ts uint32, seq uint16) []rtp.Packet {
	var out []rtp.Packet
	for i := range 7 {
		out = append(out, eventPacket(event, false, uint16(320*i), ts, seq+uint16(i)))
	}
	for range 3 {
		out = append(out, eventPacket(event, true, 2240, ts, seq+7))
	}
	return out
}

func eventPacket(event uint8, end bool, dur uint16, ts uint32, seq uint16) rtp.Packet {
	return rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234},
		Payload: media.DTMFEncode(media.DTMFEvent{Event: event, EndOfEvent: end, Volume: 10, Duration: dur}),
	}
}

func detect(d *DTMFDetector, pkts []rtp.Packet) []Digit {
	var out []Digit
	for _, p := range pkts {
		if dg, ok := d.Packet(&p.Header, p.Payload, 8000); ok {
			out = append(out, dg)
		}
	}
	return out
}

func TestDTMFDetector(t *testing.T) {
	var d DTMFDetector
	pkts := append(pcapDigit(1, 13280, 7984), pcapDigit(11, 92640, 8436)...)
	got := detect(&d, pkts)
	want := []Digit{{"1", 280 * time.Millisecond}, {"#", 280 * time.Millisecond}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("digits = %+v, want %+v", got, want)
	}
}

func TestDTMFDetectorLateAndRepeated(t *testing.T) {
	var d DTMFDetector
	first := pcapDigit(5, 1000, 100)
	if got := detect(&d, first); len(got) != 1 || got[0].Digit != "5" {
		t.Fatalf("first press = %+v", got)
	}
	// A late start packet of the same event, then another end copy.
	late := []rtp.Packet{eventPacket(5, false, 960, 1000, 103), eventPacket(5, true, 2240, 1000, 107)}
	if got := detect(&d, late); len(got) != 0 {
		t.Errorf("late packets gave %+v", got)
	}
	// A new press that reuses the timestamp but comes after the end.
	again := []rtp.Packet{eventPacket(5, false, 0, 1000, 108), eventPacket(5, true, 800, 1000, 109)}
	if got := detect(&d, again); len(got) != 1 || got[0].Duration != 100*time.Millisecond {
		t.Errorf("repeated press = %+v", got)
	}
}

func TestDTMFDetectorClockRate(t *testing.T) {
	var d DTMFDetector
	p := eventPacket(0, true, 4800, 1, 1)
	dg, ok := d.Packet(&p.Header, p.Payload, 48000)
	if !ok || dg.Duration != 100*time.Millisecond || dg.Digit != "0" {
		t.Errorf("48 kHz digit = %+v, %v", dg, ok)
	}
}

func TestDTMFDetectorIgnores(t *testing.T) {
	var d DTMFDetector
	h := rtp.Header{Timestamp: 1, SSRC: 1}
	for name, payload := range map[string][]byte{
		"short": {1, 0x80},
		"flash": media.DTMFEncode(media.DTMFEvent{Event: 16, EndOfEvent: true, Duration: 100}),
	} {
		if dg, ok := d.Packet(&h, payload, 8000); ok {
			t.Errorf("%s: got %+v", name, dg)
		}
	}
}

func TestParseINFO(t *testing.T) {
	cases := []struct {
		ct, body string
		want     Digit
	}{
		{"application/dtmf-relay", "Signal=1\r\nDuration=160\r\n", Digit{"1", 160 * time.Millisecond}},
		{"application/dtmf-relay", "Signal= #\nDuration= 250", Digit{"#", 250 * time.Millisecond}},
		{"Application/DTMF-Relay; charset=x", "signal=b\r\n", Digit{"B", DefaultINFODuration}},
		{"application/dtmf-relay", "Signal=11\r\nDuration=100\r\n", Digit{"#", 100 * time.Millisecond}},
		{"application/dtmf", "7", Digit{"7", DefaultINFODuration}},
		{"application/dtmf", " *\r\n", Digit{"*", DefaultINFODuration}},
	}
	for _, c := range cases {
		got, err := ParseINFO(c.ct, []byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("ParseINFO(%q, %q) = %+v, %v; want %+v", c.ct, c.body, got, err, c.want)
		}
	}
	bad := []struct{ ct, body, msg string }{
		{"text/plain", "Signal=1", `content type "text/plain"`},
		{"application/dtmf-relay", "Duration=100", "no Signal="},
		{"application/dtmf-relay", "Signal=12", `signal "12"`},
		{"application/dtmf-relay", "Signal=1\nDuration=-5", `duration "-5"`},
		{"application/dtmf", "", `signal ""`},
	}
	for _, c := range bad {
		_, err := ParseINFO(c.ct, []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseINFO(%q, %q) error = %v, want one naming %s", c.ct, c.body, err, c.msg)
		}
	}
}

func FuzzParseINFO(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=1\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, err := ParseINFO(ct, body)
		if err != nil {
			return
		}
		if len(d.Digit) != 1 || d.Duration < 0 {
			t.Fatalf("ParseINFO(%q, %q) = %+v", ct, body, d)
		}
	})
}

func FuzzDTMFDetector(f *testing.F) {
	f.Add([]byte{1, 0x8a, 0x08, 0xc0}, uint32(13280), uint16(7), uint32(8000))
	f.Fuzz(func(t *testing.T, payload []byte, ts uint32, seq uint16, rate uint32) {
		var d DTMFDetector
		h := rtp.Header{Timestamp: ts, SequenceNumber: seq, SSRC: 9}
		for range 3 {
			dg, ok := d.Packet(&h, payload, rate)
			if ok && (len(dg.Digit) != 1 || dg.Duration < 0) {
				t.Fatalf("digit %+v from %x", dg, payload)
			}
		}
	})
}
