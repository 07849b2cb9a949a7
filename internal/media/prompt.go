package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/emiago/diago/audio"
	dmedia "github.com/emiago/diago/media"
)

// Prompt is audio the PBX plays to a party itself, such as an IVR's
// greeting or a ringback tone: 16-bit linear PCM, 8 kHz, mono, encoded to
// the call's codec as it is played.
type Prompt struct {
	pcm []byte // little-endian samples
}

// sampleRate is the only rate the PBX plays: its codecs are 8 kHz G.711.
const sampleRate = 8000

// MaxPromptLength bounds a prompt file: an IVR greeting, not an album.
const MaxPromptLength = 10 * time.Minute

// WAV audio formats a prompt file may have (the fmt chunk's format tag).
const (
	wavPCM  = 1
	wavALaw = 6
	wavULaw = 7
)

// LoadPrompt reads a WAV file of 8 kHz mono audio, 16-bit PCM or G.711
// (A-law or µ-law). Errors say what the file is and what is wanted.
func LoadPrompt(path string) (*Prompt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	defer f.Close()
	p, err := ReadPrompt(f)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", path, err)
	}
	return p, nil
}

// ReadPrompt reads a prompt from WAV bytes; see LoadPrompt.
func ReadPrompt(r io.Reader) (*Prompt, error) {
	wav := audio.NewWavReader(r)
	if err := wav.ReadHeaders(); err != nil {
		return nil, fmt.Errorf("not a WAV file with a fmt and a data chunk: %w", err)
	}
	if wav.SampleRate != sampleRate || wav.NumChannels != 1 {
		return nil, fmt.Errorf("audio is %d Hz with %d channels; want 8000 Hz mono", wav.SampleRate, wav.NumChannels)
	}
	limit := int64(MaxPromptLength/time.Second) * sampleRate * 2
	var decode func(lpcm, encoded []byte) (int, error)
	switch {
	case wav.WavAudioFormat == wavPCM && wav.BitsPerSample == 16:
	case wav.WavAudioFormat == wavALaw && wav.BitsPerSample == 8:
		decode, limit = audio.DecodeAlawTo, limit/2
	case wav.WavAudioFormat == wavULaw && wav.BitsPerSample == 8:
		decode, limit = audio.DecodeUlawTo, limit/2
	default:
		return nil, fmt.Errorf("audio format %d with %d bits a sample; want 16-bit PCM (1), A-law (6) or µ-law (7)", wav.WavAudioFormat, wav.BitsPerSample)
	}
	data, err := io.ReadAll(io.LimitReader(wav, limit+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read audio: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("audio is longer than %s", MaxPromptLength)
	}
	if decode == nil {
		data = data[:len(data)/2*2]
	} else {
		pcm := make([]byte, 2*len(data))
		n, err := decode(pcm, data)
		if err != nil {
			return nil, fmt.Errorf("decode G.711: %w", err)
		}
		data = pcm[:n]
	}
	if len(data) == 0 {
		return nil, errors.New("the data chunk holds no audio")
	}
	return &Prompt{pcm: data}, nil
}

// Duration returns how long the prompt plays.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.pcm)/2) * time.Second / sampleRate
}

// PromptTone is the prompt of an IVR that has no file: two short beeps,
// 440 Hz, which say "press a key now" without words in any language.
func PromptTone() *Prompt {
	var b bytes.Buffer
	beep, gap := tone(150*time.Millisecond, 0.25, 440), silence(100*time.Millisecond)
	b.Write(beep)
	b.Write(gap)
	b.Write(beep)
	b.Write(gap)
	return &Prompt{pcm: b.Bytes()}
}

// Ringback is what a caller the PBX has answered (in an IVR) hears while
// the IVR's choice rings: diago's ringback tone (2 s of 350 + 440 Hz) and
// 4 s of silence, the North American cadence.
func Ringback() *Prompt {
	ring, err := audio.RingtoneLoadPCM(dmedia.CodecAudioUlaw)
	if err != nil {
		// diago generates the tone for any 8 kHz codec; fall back to
		// ours rather than to silence should that ever change.
		ring = tone(2*time.Second, 0.15, 440)
	}
	return &Prompt{pcm: append(append([]byte(nil), ring...), silence(4*time.Second)...)}
}

// tone is d of a sine at freq Hz and amplitude vol (0-1).
func tone(d time.Duration, vol, freq float64) []byte {
	n := int(d * sampleRate / time.Second)
	out := make([]byte, 2*n)
	for i := range n {
		s := vol * math.Sin(2*math.Pi*freq*float64(i)/sampleRate)
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(s*math.MaxInt16)))
	}
	return out
}

func silence(d time.Duration) []byte { return make([]byte, 2*int(d*sampleRate/time.Second)) }
