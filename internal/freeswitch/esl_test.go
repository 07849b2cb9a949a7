package freeswitch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/switchhook/switchhook/internal/calltrack"
	"github.com/switchhook/switchhook/internal/events"
)

// wireStream is what FreeSWITCH sends over one connection: greeting,
// replies, channel list, the first n events of the ring-group fixture, and
// a goodbye.
func wireStream(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("Content-Type: auth/request\n\n")
	b.WriteString("Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
	b.WriteString("Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
	list := channelsJSON(nil)
	fmt.Fprintf(&b, "Content-Type: api/response\nContent-Length: %d\n\n%s", len(list), list)
	for _, ev := range fixture(t, "ring_group.txt")[:n] {
		b.WriteString(eventFrame(nil, "plain", ev))
	}
	b.WriteString("Content-Type: text/disconnect-notice\nContent-Length: 22\n\nDisconnected, goodbye.")
	return b.Bytes()
}

func readAll(r io.Reader) ([]frame, error) {
	br := bufio.NewReaderSize(r, 16) // small, so frames straddle buffer refills
	var fs []frame
	for {
		f, err := readFrame(br)
		if err == io.EOF {
			return fs, nil
		}
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
}

func render(fs []frame) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s|%d|%s|%q\n", f.contentType(), len(f.body), f.header.Get("Reply-Text"), f.body)
	}
	return b.String()
}

// splitReader returns its data in two reads, split at n.
type splitReader struct {
	data []byte
	n    int
	done int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if s.done == len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	if s.done < s.n {
		end = s.n
	}
	k := copy(p, s.data[s.done:end])
	s.done += k
	return k, nil
}

// The framing comes out the same however TCP tears the stream: at every
// byte boundary (of every kind of frame and two events), and one byte per
// read (the whole ring-group call).
func TestFramingTornAtEveryByte(t *testing.T) {
	stream := wireStream(t, 2)
	whole, err := readAll(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 4+2+1 {
		t.Fatalf("read %d frames", len(whole))
	}
	want := render(whole)
	for n := 0; n <= len(stream); n++ {
		got, err := readAll(&splitReader{data: stream, n: n})
		if err != nil {
			t.Fatalf("split at %d: %v", n, err)
		}
		if render(got) != want {
			t.Fatalf("split at %d: frames differ", n)
		}
	}
	stream = wireStream(t, len(fixture(t, "ring_group.txt")))
	whole, err = readAll(bytes.NewReader(stream))
	if err != nil || len(whole) != 4+15+1 {
		t.Fatalf("whole call: %d frames, %v", len(whole), err)
	}
	got, err := readAll(iotest.OneByteReader(bytes.NewReader(stream)))
	if err != nil || render(got) != render(whole) {
		t.Fatalf("one byte a read: %v", err)
	}
	// CRLF line ends, as a proxy in between might write, frame the same.
	crlf := bytes.ReplaceAll(stream[:200], []byte("\n\n"), []byte("\r\n\r\n"))
	if _, err := readAll(bytes.NewReader(crlf)); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("CRLF: %v", err)
	}
}

// A stream cut inside a frame is an error, never a short frame.
func TestFramingTruncated(t *testing.T) {
	stream := wireStream(t, 2)
	for _, n := range []int{5, 30, 200, len(stream) - 3} {
		_, err := readAll(bytes.NewReader(stream[:n]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want unexpected EOF", n, err)
		}
	}
}

func TestParsePlainEvent(t *testing.T) {
	ev, err := parsePlainEvent([]byte("Event-Name: BACKGROUND_JOB\nJob-Command-Arg: sofia/default/1005%20'%26park'\n" +
		"Event-Date-Local: 2008-05-02%2007%3A37%3A03\nvariable_ringback: %(2000,4000,440,480)\nDTMF-Digit: %23\n" +
		"Content-Length: 41\n\n+OK 7f4de4bc-17d7-11dd-b7a0-db4edd065621\n"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Job-Command-Arg":   "sofia/default/1005 '&park'",
		"Event-Date-Local":  "2008-05-02 07:37:03",
		"variable_ringback": "%(2000,4000,440,480)", // not URL-encoded: kept as sent
		"DTMF-Digit":        "#",
		"_body":             "+OK 7f4de4bc-17d7-11dd-b7a0-db4edd065621\n",
	} {
		if got := ev.get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, bad := range []string{"", "Unique-ID: x\n\n", "no colon here\n\n"} {
		if _, err := parsePlainEvent([]byte(bad)); err == nil {
			t.Errorf("parsePlainEvent(%q) succeeded", bad)
		}
	}
}

func TestParseJSONEvent(t *testing.T) {
	ev, err := parseJSONEvent([]byte(`{"Event-Name":"DTMF","DTMF-Digit":"#","variable_array":["a","b"],"Event-Sequence":"12"}`))
	if err != nil || ev.get("dtmf-digit") != "#" || ev.get("Event-Sequence") != "12" {
		t.Fatalf("%v %v", ev, err)
	}
	for _, bad := range []string{"", "[]", `{"Unique-ID":"x"}`, "{"} {
		if _, err := parseJSONEvent([]byte(bad)); err == nil {
			t.Errorf("parseJSONEvent(%q) succeeded", bad)
		}
	}
}

func TestParseChannels(t *testing.T) {
	live, err := parseChannels([]byte(channelsJSON([]fakeChannel{{UUID: "a", CallState: "ACTIVE"}, {UUID: "b", CallState: "EARLY", Created: time.Unix(1769515350, 0)}})))
	if err != nil || !live["a"].Up || live["a"].Ringing || !live["b"].Ringing || !live["b"].Created.Equal(time.Unix(1769515350, 0)) || len(live) != 2 {
		t.Fatalf("%+v %v", live, err)
	}
	if live, err := parseChannels([]byte("{\"row_count\":0}\n")); err != nil || len(live) != 0 {
		t.Fatalf("%v %v", live, err)
	}
	for _, bad := range []string{"-ERR no reply\n", "{}", ""} {
		if _, err := parseChannels([]byte(bad)); err == nil {
			t.Errorf("parseChannels(%q) succeeded", bad)
		}
	}
}

func TestParseUptime(t *testing.T) {
	up, err := parseUptime([]byte("UP 0 years, 1 day, 2 hours, 3 minutes, 4 seconds, 5 milliseconds, 6 microseconds\nFreeSWITCH (Version 1.10.12 -release 64bit) is ready\n"))
	if want := 26*time.Hour + 3*time.Minute + 4*time.Second + 5*time.Millisecond + 6*time.Microsecond; err != nil || up != want {
		t.Fatalf("parseUptime = %v, %v; want %v", up, err, want)
	}
	for _, bad := range []string{"", "-ERR no reply", "UP 3 fortnights"} {
		if _, err := parseUptime([]byte(bad)); err == nil {
			t.Errorf("parseUptime(%q) succeeded", bad)
		}
	}
}

// FuzzFraming feeds arbitrary bytes through the framing, the event
// decoders and the call mapping: nothing may panic, every frame respects
// the limits, and every event emitted is valid.
func FuzzFraming(f *testing.F) {
	f.Add(wireStream(f, 3))
	f.Add([]byte("Content-Type: text/event-plain\nContent-Length: 30\n\nEvent-Name: DTMF\nUnique-ID: a\n\n"))
	f.Add([]byte("Content-Type: text/event-json\nContent-Length: 2\n\n{}"))
	f.Add([]byte("Content-Length: -1\nContent-Type: x\n\n"))
	for _, name := range []string{"ivr_dtmf.txt", "hold_unhold.txt"} {
		var b bytes.Buffer
		for _, ev := range fixture(f, name) {
			b.WriteString(eventFrame(nil, "plain", ev))
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTracker("freeswitch/fuzz", slog.New(slog.DiscardHandler))
		br := bufio.NewReader(bytes.NewReader(data))
		for range 1000 {
			fr, err := readFrame(br)
			if err != nil {
				return
			}
			if len(fr.body) > maxBodyBytes {
				t.Fatalf("body of %d bytes", len(fr.body))
			}
			var ev eventHeaders
			switch fr.contentType() {
			case typeEventPlain:
				ev, err = parsePlainEvent(fr.body)
			case typeEventJSON:
				ev, err = parseJSONEvent(fr.body)
			case typeAPIResponse:
				if live, err := parseChannels(fr.body); err == nil {
					checkEmitted(t, tr.reconcile(live, calltrack.Gap{}, fixedTime))
				}
				continue
			default:
				continue
			}
			if err == nil {
				checkEmitted(t, tr.handle(ev))
			}
		}
	})
}

var fixedTime = time.Date(2026, 1, 27, 12, 0, 0, 0, time.UTC)

func checkEmitted(t *testing.T, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := e.Validate(); err != nil {
			t.Fatalf("emitted an invalid event: %v", err)
		}
		if e.Kind == events.CallHangup && e.Hangup == nil {
			t.Fatal("CALL_HANGUP without hangup details")
		}
	}
}
