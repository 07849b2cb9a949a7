package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/diago/audio"
	"github.com/pion/rtp"
)

// wav makes a WAV file of format (1 PCM, 6 A-law, 7 µ-law) with data.
func wav(t *testing.T, format, rate, channels, bits int, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := audio.WavWrite(&b, data, audio.WavWriteOpts{AudioFormat: format, SampleRate: rate, NumChans: channels, BitDepth: bits}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ramp is n 16-bit samples counting up by 64, each exact in G.711 only
// roughly.
func ramp(n int) []byte {
	out := make([]byte, 2*n)
	for i := range n {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(i*64-16000)))
	}
	return out
}

func TestReadPrompt(t *testing.T) {
	pcm := ramp(8000)
	p, err := ReadPrompt(bytes.NewReader(wav(t, 1, 8000, 1, 16, pcm)))
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration() != time.Second || !bytes.Equal(p.pcm, pcm) {
		t.Errorf("PCM prompt: %s, %d bytes", p.Duration(), len(p.pcm))
	}
	for _, c := range []struct {
		format int
		encode func(encoded, lpcm []byte) (int, error)
	}{{6, audio.EncodeAlawTo}, {7, audio.EncodeUlawTo}} {
		g711 := make([]byte, len(pcm)/2)
		if _, err := c.encode(g711, pcm); err != nil {
			t.Fatal(err)
		}
		p, err := ReadPrompt(bytes.NewReader(wav(t, c.format, 8000, 1, 8, g711)))
		if err != nil {
			t.Fatalf("format %d: %v", c.format, err)
		}
		if p.Duration() != time.Second {
			t.Errorf("format %d: %s", c.format, p.Duration())
		}
		// G.711 is lossy; the decoded ramp stays close to the original.
		for i := 0; i < len(pcm); i += 2000 {
			got, want := int16(binary.LittleEndian.Uint16(p.pcm[i:])), int16(binary.LittleEndian.Uint16(pcm[i:]))
			if d := int(got) - int(want); d > 1024 || d < -1024 {
				t.Errorf("format %d: sample %d is %d, want about %d", c.format, i/2, got, want)
			}
		}
	}
}

func TestReadPromptErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"not wav", []byte("ID3 this is an mp3"), "not a WAV file"},
		{"16 kHz", wav(t, 1, 16000, 1, 16, ramp(10)), "16000 Hz with 1 channels; want 8000 Hz mono"},
		{"stereo", wav(t, 1, 8000, 2, 16, ramp(10)), "8000 Hz with 2 channels"},
		{"8-bit PCM", wav(t, 1, 8000, 1, 8, []byte{1, 2, 3}), "audio format 1 with 8 bits a sample"},
		{"float", wav(t, 3, 8000, 1, 32, make([]byte, 8)), "audio format 3"},
		{"empty", wav(t, 1, 8000, 1, 16, nil), "holds no audio"},
	} {
		_, err := ReadPrompt(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	_, err := LoadPrompt(filepath.Join(t.TempDir(), "missing.wav"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bad.wav")
	os.WriteFile(path, wav(t, 1, 44100, 2, 16, ramp(10)), 0o600)
	if _, err := LoadPrompt(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: %v does not name it", err)
	}
}

func TestBuiltInPrompts(t *testing.T) {
	if d := PromptTone().Duration(); d < 200*time.Millisecond || d > time.Second {
		t.Errorf("prompt tone lasts %s", d)
	}
	if d := Ringback().Duration(); d != 6*time.Second {
		t.Errorf("ringback cadence lasts %s, want 6s", d)
	}
}

// Play sends the prompt as 20 ms packets of the codec, one after another,
// to the side's party, from the socket that party sends to.
func TestPlay(t *testing.T) {
	pool, err := NewPortPool(loopback, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pool.NewRelay(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	caller := newParty(t)
	r.SetRemote(SideA, caller.addr(), nil)
	// 90 ms: four full packets and one padded.
	p := &Prompt{pcm: ramp(720)}
	if err := r.Play(context.Background(), SideA, p, Codec{PayloadType: 8, Name: "PCMA", ClockRate: 8000}); err != nil {
		t.Fatal(err)
	}
	var got []rtp.Packet
	buf := make([]byte, 1500)
	for {
		caller.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := caller.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		if int(from.Port()) != r.Port(SideA) {
			t.Errorf("packet from port %d, not the relay's port %d toward the caller", from.Port(), r.Port(SideA))
		}
		var pkt rtp.Packet
		// Unmarshal keeps the payload in the buffer: each its own.
		if err := pkt.Unmarshal(bytes.Clone(buf[:n])); err != nil {
			t.Fatal(err)
		}
		got = append(got, pkt)
	}
	if len(got) != 5 {
		t.Fatalf("%d packets, want 5", len(got))
	}
	want := make([]byte, 720)
	audio.EncodeAlawTo(want, p.pcm)
	for i, pkt := range got {
		if pkt.PayloadType != 8 || len(pkt.Payload) != 160 || pkt.SSRC != got[0].SSRC || pkt.SequenceNumber != got[0].SequenceNumber+uint16(i) || pkt.Timestamp != got[0].Timestamp+uint32(160*i) || pkt.Marker != (i == 0) {
			t.Errorf("packet %d: pt %d len %d ssrc %x seq %d ts %d marker %v", i, pkt.PayloadType, len(pkt.Payload), pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, pkt.Marker)
		}
		if end := min(len(want), 160*(i+1)); !bytes.Equal(pkt.Payload[:end-160*i], want[160*i:end]) {
			t.Errorf("packet %d does not carry the prompt's audio", i)
		}
	}

	// A cancelled context stops playing, and an unknown codec is refused.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Play(ctx, SideA, Ringback(), Codec{PayloadType: 0, Name: "PCMU", ClockRate: 8000}); !errors.Is(err, context.Canceled) {
		t.Errorf("Play with a cancelled context = %v", err)
	}
	if err := r.Play(context.Background(), SideA, p, Codec{PayloadType: 18, Name: "G729", ClockRate: 8000}); err == nil || !strings.Contains(err.Error(), "G729 is not PCMU or PCMA") {
		t.Errorf("Play in G729 = %v", err)
	}
}
