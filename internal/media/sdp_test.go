package media

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

const sippOffer = "v=0\r\n" +
	"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 6000 RTP/AVP 18 0 8 101\r\n" +
	"a=rtpmap:18 G729/8000\r\n" +
	"a=fmtp:18 annexb=no\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-15\r\n" +
	"a=rtcp:6001\r\n" +
	"m=video 6002 RTP/AVP 96\r\n" +
	"a=rtpmap:96 H264/90000\r\n"

func TestAudioStream(t *testing.T) {
	d, err := ParseSDP([]byte(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Audio()
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr != netip.MustParseAddrPort("127.0.0.1:6000") || s.Direction != SendRecv || s.Held() {
		t.Errorf("stream = %+v", s)
	}
	want := []Codec{{18, "G729", 8000}, {0, "PCMU", 8000}, {8, "PCMA", 8000}, {101, "telephone-event", 8000}}
	if len(s.Codecs) != len(want) {
		t.Fatalf("codecs = %+v, want %+v", s.Codecs, want)
	}
	for i := range want {
		if s.Codecs[i] != want[i] {
			t.Errorf("codec %d = %+v, want %+v", i, s.Codecs[i], want[i])
		}
	}
	if ev := s.EventRates(); len(ev) != 1 || ev[101] != 8000 {
		t.Errorf("event rates = %v", ev)
	}
}

func TestKeepRelayableAndRewrite(t *testing.T) {
	d, err := ParseSDP([]byte(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.KeepRelayable(); err != nil {
		t.Fatal(err)
	}
	out, err := d.Rewrite(Origin{SessionID: 7, Version: 3}, netip.MustParseAddrPort("10.0.0.1:20000"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"o=switchhook 7 3 IN IP4 10.0.0.1\r\n",
		"c=IN IP4 10.0.0.1\r\n",
		"m=audio 20000 RTP/AVP 0 8 101\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=fmtp:101 0-15\r\n",
		"m=video 0 RTP/AVP 96\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten sdp lacks %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"G729", "annexb", "a=rtcp:", "127.0.0.1"} {
		if strings.Contains(got, gone) {
			t.Errorf("rewritten sdp still has %q:\n%s", gone, got)
		}
	}
	// The rewritten body parses and describes the relay's address.
	d2, err := ParseSDP(out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d2.Audio()
	if err != nil || s.Addr != netip.MustParseAddrPort("10.0.0.1:20000") {
		t.Errorf("reparsed stream = %+v, %v", s, err)
	}
}

func TestKeepRelayableNoCodec(t *testing.T) {
	body := strings.Replace(sippOffer, "RTP/AVP 18 0 8 101", "RTP/AVP 18 101", 1)
	d, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.KeepRelayable(); !errors.Is(err, ErrNoCodec) {
		t.Errorf("KeepRelayable = %v, want ErrNoCodec", err)
	}
}

func TestHold(t *testing.T) {
	cases := []struct {
		name, from, to string
		held           bool
	}{
		{"sendrecv", "t=0 0\r\n", "t=0 0\r\n", false},
		{"sendonly", "a=rtcp:6001\r\n", "a=sendonly\r\n", true},
		{"inactive", "a=rtcp:6001\r\n", "a=inactive\r\n", true},
		{"recvonly", "a=rtcp:6001\r\n", "a=recvonly\r\n", false},
		{"session sendonly", "t=0 0\r\n", "t=0 0\r\na=sendonly\r\n", true},
		{"c=0.0.0.0", "c=IN IP4 127.0.0.1\r\n", "c=IN IP4 0.0.0.0\r\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ParseSDP([]byte(strings.Replace(sippOffer, c.from, c.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.Audio()
			if err != nil {
				t.Fatal(err)
			}
			if s.Held() != c.held {
				t.Errorf("Held() = %v, want %v (%+v)", s.Held(), c.held, s)
			}
		})
	}
}

func TestRewriteKeepsRFC2543Hold(t *testing.T) {
	d, err := ParseSDP([]byte(strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Rewrite(Origin{SessionID: 1, Version: 1}, netip.MustParseAddrPort("10.0.0.1:20000"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "c=IN IP4 0.0.0.0\r\n") {
		t.Errorf("hold address lost:\n%s", out)
	}
}

func TestParseSDPErrors(t *testing.T) {
	cases := map[string]string{
		"garbage":        "hello",
		"no audio":       strings.Replace(sippOffer, "m=audio 6000", "m=audio 0", 1),
		"no connection":  strings.Replace(sippOffer, "c=IN IP4 127.0.0.1\r\n", "", 1),
		"bad address":    strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example", 1),
		"bad format":     strings.Replace(sippOffer, "RTP/AVP 18 0 8 101", "RTP/AVP x", 1),
		"bad rtpmap":     strings.Replace(sippOffer, "a=rtpmap:0 PCMU/8000", "a=rtpmap:0", 1),
		"rtpmap no rate": strings.Replace(sippOffer, "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMU", 1),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := ParseSDP([]byte(body))
			if err == nil {
				_, err = d.Audio()
			}
			if err == nil {
				t.Fatalf("no error for %q", body)
			}
			if !strings.HasPrefix(err.Error(), "parse sdp:") && !strings.HasPrefix(err.Error(), "sdp:") {
				t.Errorf("error %q does not say it is about the sdp", err)
			}
		})
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add([]byte(strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP6 ::1", 1)))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseSDP(body)
		if err != nil {
			return
		}
		if _, err := d.Audio(); err != nil {
			return
		}
		if err := d.KeepRelayable(); err != nil {
			return
		}
		out, err := d.Rewrite(Origin{SessionID: 1, Version: 2}, netip.MustParseAddrPort("127.0.0.1:4000"))
		if err != nil {
			return
		}
		if _, err := ParseSDP(out); err != nil {
			t.Fatalf("rewritten sdp does not parse: %v\n%q\nfrom %q", err, out, body)
		}
	})
}

// Narrow keeps the first G.711 codec of the offer and its 8 kHz
// telephone-event, which is what an IVR answers with.
func TestNarrow(t *testing.T) {
	body := strings.Replace(sippOffer, "RTP/AVP 18 0 8 101", "RTP/AVP 18 8 0 101 102", 1)
	body = strings.Replace(body, "a=fmtp:101 0-15\r\n", "a=fmtp:101 0-15\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:102 telephone-event/16000\r\n", 1)
	d, err := ParseSDP([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Narrow()
	if err != nil || c != (Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}) {
		t.Fatalf("Narrow = %+v, %v", c, err)
	}
	s, _ := d.Audio()
	var kept []string
	for _, c := range s.Codecs {
		kept = append(kept, c.Name)
	}
	if strings.Join(kept, " ") != "PCMA telephone-event" {
		t.Errorf("kept %v, want PCMA telephone-event", kept)
	}
	out, _ := d.Rewrite(Origin{SessionID: 1, Version: 2}, netip.MustParseAddrPort("10.0.0.1:20000"))
	if !strings.Contains(string(out), "m=audio 20000 RTP/AVP 8 101\r\n") || strings.Contains(string(out), "G729") || strings.Contains(string(out), "16000") {
		t.Errorf("narrowed answer:\n%s", out)
	}
	none := strings.Replace(sippOffer, "RTP/AVP 18 0 8 101", "RTP/AVP 18 101", 1)
	d, _ = ParseSDP([]byte(none))
	if _, err := d.Narrow(); !errors.Is(err, ErrNoCodec) {
		t.Errorf("Narrow without G.711 = %v, want ErrNoCodec", err)
	}
}
