package media

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction attribute (RFC 4566 §6).
type Direction string

// Media directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Codec is one payload format of an audio stream.
type Codec struct {
	PayloadType uint8
	Name        string // as in the rtpmap, e.g. "PCMU", "telephone-event"
	ClockRate   uint32
}

// IsTelephoneEvent reports whether c carries RFC 4733 events.
func (c Codec) IsTelephoneEvent() bool { return strings.EqualFold(c.Name, "telephone-event") }

// Relayable reports whether the PBX relays c: PCMU, PCMA or telephone-event.
// Nothing else is relayed because the PBX does not transcode, and these are
// what every SIP phone speaks.
func (c Codec) Relayable() bool {
	switch {
	case strings.EqualFold(c.Name, "PCMU"), strings.EqualFold(c.Name, "PCMA"):
		return c.ClockRate == 8000
	case c.IsTelephoneEvent():
		return c.ClockRate > 0
	}
	return false
}

// Stream is what one side's SDP says about its audio.
type Stream struct {
	// Addr is where the side wants to receive RTP; it is not valid when the
	// side gave no address (c=0.0.0.0, the RFC 2543 way to hold) or port 0.
	Addr      netip.AddrPort
	Direction Direction
	Codecs    []Codec
}

// Held reports whether the stream puts the call on hold: the side stops
// receiving (sendonly, inactive) or gave no address.
func (s Stream) Held() bool {
	return s.Direction == SendOnly || s.Direction == Inactive || !s.Addr.Addr().IsValid() || s.Addr.Addr().IsUnspecified()
}

// EventRates maps the stream's telephone-event payload types to their clock
// rates.
func (s Stream) EventRates() map[uint8]uint32 {
	m := make(map[uint8]uint32)
	for _, c := range s.Codecs {
		if c.IsTelephoneEvent() {
			m[c.PayloadType] = c.ClockRate
		}
	}
	return m
}

// Errors a caller can tell apart to pick a SIP response.
var (
	// ErrNoAudio means the SDP has no usable audio stream.
	ErrNoAudio = errors.New("sdp: no audio stream")
	// ErrNoCodec means the audio stream offers none of PCMU and PCMA.
	ErrNoCodec = errors.New("sdp: no common codec (want PCMU or PCMA)")
)

// Description is a parsed SDP body of one side.
type Description struct {
	sd    sdp.SessionDescription
	audio int // index of the first audio m-line with a non-zero port
}

// ParseSDP parses an SDP body and finds its audio stream.
func ParseSDP(body []byte) (*Description, error) {
	d := &Description{}
	if err := d.sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("parse sdp: %w", err)
	}
	d.audio = -1
	for i, m := range d.sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			d.audio = i
			break
		}
	}
	if d.audio < 0 {
		return nil, ErrNoAudio
	}
	return d, nil
}

// Audio returns the audio stream's address, direction and codecs.
func (d *Description) Audio() (Stream, error) {
	m := d.sd.MediaDescriptions[d.audio]
	s := Stream{Direction: SendRecv}
	if dir, ok := direction(d.sd.Attributes); ok {
		s.Direction = dir
	}
	if dir, ok := direction(m.Attributes); ok {
		s.Direction = dir
	}
	ci := m.ConnectionInformation
	if ci == nil {
		ci = d.sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return s, fmt.Errorf("sdp: audio stream has no connection address (c=)")
	}
	if m.MediaName.Port.Value < 0 || m.MediaName.Port.Value > 65535 {
		return s, fmt.Errorf("sdp: audio port %d out of range", m.MediaName.Port.Value)
	}
	ip, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return s, fmt.Errorf("sdp: connection address %q is not an IP address", ci.Address.Address)
	}
	s.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(m.MediaName.Port.Value))
	codecs, err := codecsOf(m)
	if err != nil {
		return s, err
	}
	s.Codecs = codecs
	return s, nil
}

// KeepRelayable removes from the audio stream every codec the PBX does not
// relay, with its rtpmap and fmtp lines. It returns ErrNoCodec when neither
// PCMU nor PCMA remains.
func (d *Description) KeepRelayable() error {
	m := d.sd.MediaDescriptions[d.audio]
	codecs, err := codecsOf(m)
	if err != nil {
		return err
	}
	keep := make(map[uint8]bool)
	audio := false
	for _, c := range codecs {
		if c.Relayable() {
			keep[c.PayloadType] = true
			audio = audio || !c.IsTelephoneEvent()
		}
	}
	if !audio {
		return ErrNoCodec
	}
	keepOnly(m, keep)
	return nil
}

// Narrow keeps, of the audio stream, only the first of PCMU and PCMA it
// lists and telephone-event at 8000 Hz, and returns that codec: what the
// PBX answers with when it answers a call itself (an IVR), since it plays
// one codec and reads DTMF as RFC 4733 events. Later offers to a callee
// made from d then hold that codec only, so the callee answers with what
// the caller already receives.
func (d *Description) Narrow() (Codec, error) {
	m := d.sd.MediaDescriptions[d.audio]
	codecs, err := codecsOf(m)
	if err != nil {
		return Codec{}, err
	}
	keep := make(map[uint8]bool)
	var chosen Codec
	for _, c := range codecs {
		switch {
		case c.IsTelephoneEvent() && c.ClockRate == 8000:
			keep[c.PayloadType] = true
		case chosen.Name == "" && c.Relayable() && !c.IsTelephoneEvent():
			chosen = c
			keep[c.PayloadType] = true
		}
	}
	if chosen.Name == "" {
		return Codec{}, ErrNoCodec
	}
	keepOnly(m, keep)
	return chosen, nil
}

// keepOnly removes from m every payload format not in keep, with its
// rtpmap and fmtp lines.
func keepOnly(m *sdp.MediaDescription, keep map[uint8]bool) {
	kept := func(f string) bool {
		pt, err := strconv.ParseUint(f, 10, 7)
		return err == nil && keep[uint8(pt)]
	}
	m.MediaName.Formats = slices.DeleteFunc(m.MediaName.Formats, func(f string) bool { return !kept(f) })
	m.Attributes = slices.DeleteFunc(m.Attributes, func(a sdp.Attribute) bool {
		if a.Key != "rtpmap" && a.Key != "fmtp" {
			return false
		}
		pt, _, _ := strings.Cut(a.Value, " ")
		return !kept(pt)
	})
}

// Origin is the PBX's o= line toward one side; Version must grow each time
// the PBX sends that side a changed description (RFC 3264 §8).
type Origin struct {
	SessionID uint64
	Version   uint64
}

// Rewrite returns the description as the PBX sends it on: the audio stream
// at addr (the PBX's relay socket), other media streams declined (port 0,
// since only audio is relayed), and attributes that name the original
// sender's transport addresses removed. A connection address of 0.0.0.0
// stays as it is, so a hold in the RFC 2543 style reaches the other side.
func (d *Description) Rewrite(o Origin, addr netip.AddrPort) ([]byte, error) {
	sd := d.sd
	ip := addr.Addr().Unmap()
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}
	sd.Origin = sdp.Origin{
		Username: "switchhook", SessionID: o.SessionID, SessionVersion: o.Version,
		NetworkType: "IN", AddressType: addrType, UnicastAddress: ip.String(),
	}
	hold := false
	if s, err := d.Audio(); err == nil && s.Addr.Addr().IsUnspecified() {
		hold = true
	}
	conn := func() *sdp.ConnectionInformation {
		a := ip.String()
		if hold {
			a = "0.0.0.0"
			addrType = "IP4"
		}
		return &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: a}}
	}
	sd.ConnectionInformation = conn()
	sd.Attributes = withoutTransportAttrs(sd.Attributes)
	sd.MediaDescriptions = make([]*sdp.MediaDescription, len(d.sd.MediaDescriptions))
	for i, m := range d.sd.MediaDescriptions {
		mc := *m
		mc.MediaName.Port = sdp.RangedPort{Value: 0}
		mc.ConnectionInformation = nil
		if i == d.audio {
			mc.MediaName.Port = sdp.RangedPort{Value: int(addr.Port())}
			mc.ConnectionInformation = conn()
			mc.Attributes = withoutTransportAttrs(m.Attributes)
		}
		sd.MediaDescriptions[i] = &mc
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	return out, nil
}

// withoutTransportAttrs drops attributes that describe the original sender's
// transport (RTCP port, ICE) and would mislead the other side of the relay.
func withoutTransportAttrs(attrs []sdp.Attribute) []sdp.Attribute {
	return slices.DeleteFunc(slices.Clone(attrs), func(a sdp.Attribute) bool {
		switch a.Key {
		case "rtcp", "candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "end-of-candidates", "remote-candidates", "rtcp-mux":
			return true
		}
		return false
	})
}

func direction(attrs []sdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		switch Direction(a.Key) {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return Direction(a.Key), true
		}
	}
	return "", false
}

// codecsOf lists the m-line's payload formats; static types 0 and 8 need no
// rtpmap (RFC 3551).
func codecsOf(m *sdp.MediaDescription) ([]Codec, error) {
	maps := make(map[string]Codec)
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if !ok {
			return nil, fmt.Errorf("sdp: malformed rtpmap %q", a.Value)
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(enc), "/")
		rate, _, _ := strings.Cut(rest, "/")
		r, err := strconv.ParseUint(rate, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("sdp: rtpmap %q has no clock rate", a.Value)
		}
		maps[pt] = Codec{Name: name, ClockRate: uint32(r)}
	}
	var out []Codec
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			return nil, fmt.Errorf("sdp: payload format %q is not a number from 0 to 127", f)
		}
		c, ok := maps[f]
		if !ok {
			switch pt {
			case 0:
				c = Codec{Name: "PCMU", ClockRate: 8000}
			case 8:
				c = Codec{Name: "PCMA", ClockRate: 8000}
			default:
				c = Codec{Name: "static-" + f}
			}
		}
		c.PayloadType = uint8(pt)
		out = append(out, c)
	}
	return out, nil
}
