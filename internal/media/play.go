package media

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
	"github.com/pion/rtp"
)

var errRelayClosed = errors.New("play: relay closed")

// frame is the packet time of the audio the PBX sends: 20 ms, 160 samples.
const frame = 20 * time.Millisecond

// Play sends p to the party on side s as RTP in codec (PCMU or PCMA), one
// 20 ms packet at a time, from the socket that party sends its media to. It
// returns nil when the prompt has played, or ctx's error when ctx ends
// first. Packaging and pacing are diago's RTPPacketWriter, encoding diago's
// G.711 encoders.
func (r *Relay) Play(ctx context.Context, s Side, p *Prompt, codec Codec) error {
	var encode func(encoded, lpcm []byte) (int, error)
	switch {
	case strings.EqualFold(codec.Name, "PCMU"):
		encode = audio.EncodeUlawTo
	case strings.EqualFold(codec.Name, "PCMA"):
		encode = audio.EncodeAlawTo
	default:
		return fmt.Errorf("play: codec %s is not PCMU or PCMA", codec.Name)
	}
	w := dmedia.NewRTPPacketWriter(sender{r, r.sides[s]}, dmedia.Codec{
		Name: strings.ToLower(codec.Name), PayloadType: codec.PayloadType, SampleRate: sampleRate, SampleDur: frame, NumChannels: 1,
	})
	defer w.ClockDisable()
	size := int(2 * sampleRate * frame / time.Second)
	pcm := make([]byte, size)
	encoded := make([]byte, size/2)
	for off := 0; off < len(p.pcm); off += size {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The last frame is padded with silence: a packet is always 20 ms.
		clear(pcm)
		copy(pcm, p.pcm[off:])
		n, err := encode(encoded, pcm)
		if err != nil {
			return fmt.Errorf("play: encode: %w", err)
		}
		if _, err := w.Write(encoded[:n]); err != nil {
			return fmt.Errorf("play: %w", err)
		}
	}
	return nil
}

// sender writes packets the PBX makes itself to the party on one side.
type sender struct {
	r  *Relay
	rs *relaySide
}

func (s sender) WriteRTP(p *rtp.Packet) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	s.r.mu.RLock()
	defer s.r.mu.RUnlock()
	if s.r.closed {
		return errRelayClosed
	}
	// A party on hold (or that gave no address yet) gets nothing, like a
	// relayed packet.
	s.rs.pair.rtp.sendTo(b, &s.rs.remoteOf().rtp)
	return nil
}

func usable(a netip.AddrPort) bool {
	return a.Addr().IsValid() && !a.Addr().IsUnspecified() && a.Port() != 0
}
