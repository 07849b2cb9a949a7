package e2e

import (
	"bufio"
	"bytes"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real softphones from Debian drive the built-in PBX: baresip through its
// ctrl_tcp module (JSON in netstrings) and linphonec through its command
// line. Neither has a sound card here: each plays a WAV file of its own tone
// (baresip's aufile, linphonec's file mode) and records what it hears
// (baresip's sndfile, linphonec's record), so that the test can tell that
// each heard the other.

// softphoneTimeout bounds every wait for a phone.
const softphoneTimeout = 15 * time.Second

// needSoftphones skips the test when the phones are not installed (.ci/run
// installs them).
func needSoftphones(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"baresip", "linphonec"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (Debian packages baresip and linphone-cli)", bin)
		}
	}
}

// writeTone writes seconds of a sine of freq Hz as an 8 kHz mono 16-bit
// WAV file, the format both phones play for G.711 without resampling.
func writeTone(t *testing.T, path string, freq float64, seconds int) {
	t.Helper()
	n := 8000 * seconds
	var b bytes.Buffer
	le := bin.LittleEndian
	b.WriteString("RIFF")
	bin.Write(&b, le, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		bin.Write(&b, le, v)
	}
	b.WriteString("data")
	bin.Write(&b, le, uint32(2*n))
	for i := range n {
		bin.Write(&b, le, int16(8000*math.Sin(2*math.Pi*freq*float64(i)/8000)))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readWAV returns the first channel of a 16-bit PCM WAV file and its rate.
func readWAV(path string) ([]float64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%s is not a WAV file", path)
	}
	var rate, channels int
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(bin.LittleEndian.Uint32(b[p+4:p+8]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 || bin.LittleEndian.Uint16(body[14:16]) != 16 {
				return nil, 0, fmt.Errorf("%s: not 16-bit PCM", path)
			}
			channels, rate = int(bin.LittleEndian.Uint16(body[2:4])), int(bin.LittleEndian.Uint32(body[4:8]))
		case "data":
			// A recorder stopped abruptly may leave the size unset.
			if size == 0 || size > len(body) {
				size = len(body)
			}
			if channels == 0 {
				return nil, 0, fmt.Errorf("%s: data before fmt", path)
			}
			var out []float64
			for i := 0; i+2*channels <= size; i += 2 * channels {
				out = append(out, float64(int16(bin.LittleEndian.Uint16(body[i:]))))
			}
			return out, rate, nil
		}
		p += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("%s: no data", path)
}

// tonePower is the power of freq in samples (Goertzel).
func tonePower(samples []float64, freq float64, rate int) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range samples {
		s1, s2 = x+k*s1-s2, s1
	}
	return (s1*s1 + s2*s2 - k*s1*s2) / float64(max(1, len(samples)))
}

// checkHeard checks that the recordings of one call at paths (baresip
// starts a file anew when a hold changes the stream) hold at least a second
// of the tone want, far above the tone other (the recorder's own).
func checkHeard(t *testing.T, who string, paths []string, want, other float64) {
	t.Helper()
	var samples []float64
	rate := 8000
	for _, p := range paths {
		s, r, err := readWAV(p)
		if err != nil {
			t.Errorf("%s's recording: %v", who, err)
			return
		}
		samples, rate = append(samples, s...), r
	}
	path := strings.Join(paths, ", ")
	if len(samples) < rate {
		t.Errorf("%s's recording %s holds %d samples, less than a second", who, path, len(samples))
		return
	}
	pw, po := tonePower(samples, want, rate), tonePower(samples, other, rate)
	if pw < 1e6 || pw < 100*po {
		t.Errorf("%s did not hear the other phone's %v Hz tone: power %.3g at %v Hz, %.3g at its own %v Hz (%s)", who, want, pw, want, po, other, path)
	}
}

// baresip is one baresip process registered as one extension.
type baresip struct {
	t      *testing.T
	dir    string
	port   int // SIP, UDP
	cmd    *exec.Cmd
	out    *syncBuffer
	conn   net.Conn
	mu     sync.Mutex
	events []map[string]any
	notify chan struct{}
}

// freeBaresipPort returns a port baresip can listen on: sip_listen binds
// it for UDP and TCP and the port above for TLS, and it will not start
// without all three. The port is taken below the kernel's ephemeral range,
// where no test's outgoing connection can hold the port above meanwhile.
func freeBaresipPort(t *testing.T) int {
	t.Helper()
	free := func(network string, port int) bool {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if network == "udp" {
			c, err := net.ListenPacket(network, addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		l, err := net.Listen(network, addr)
		if err == nil {
			l.Close()
		}
		return err == nil
	}
	for range 200 {
		port := 10000 + 2*rand.IntN(5000)
		if free("udp", port) && free("tcp", port) && free("tcp", port+1) {
			return port
		}
	}
	t.Fatal("no port free for baresip's UDP, TCP and TLS listeners in 10000-20000")
	return 0
}

// startBaresip runs baresip as ext with password at the PBX on sip,
// playing a tone of freq Hz.
func startBaresip(t *testing.T, ext, password, sip string, freq float64) *baresip {
	t.Helper()
	b := &baresip{t: t, dir: t.TempDir(), port: freeBaresipPort(t), out: &syncBuffer{}, notify: make(chan struct{}, 1)}
	ctrl := freePort(t)
	rtp := freeUDPPort(t)
	tone := filepath.Join(b.dir, "tone.wav")
	writeTone(t, tone, freq, 60)
	os.MkdirAll(filepath.Join(b.dir, "rec"), 0o755)
	config := strings.Join([]string{
		"poll_method epoll",
		fmt.Sprintf("sip_listen 127.0.0.1:%d", b.port),
		"sip_trans_def udp",
		// No sound card: the tone file is the microphone, and what is
		// heard goes to an aubridge device nothing reads; sndfile records
		// it as it is decoded.
		"audio_source aufile," + tone,
		"audio_player aubridge,heard",
		"audio_alert aubridge,heard",
		fmt.Sprintf("rtp_ports %d-%d", rtp, min(rtp+20, 65535)),
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aufile.so",
		"module aubridge.so",
		"module sndfile.so",
		"module_app account.so",
		"module_app menu.so",
		"module_app ctrl_tcp.so",
		fmt.Sprintf("ctrl_tcp_listen 127.0.0.1:%d", ctrl),
		"snd_path " + filepath.Join(b.dir, "rec"),
		"",
	}, "\n")
	account := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;regint=600;audio_codecs=PCMU,PCMA\n", ext, sip, password)
	if err := os.WriteFile(filepath.Join(b.dir, "config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "accounts"), []byte(account), 0o644); err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command("baresip", "-f", b.dir)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	stdin, err := b.cmd.StdinPipe() // held open: baresip quits at EOF
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close()
		b.cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("baresip %s output:\n%s", ext, b.out.String())
		}
	})
	waitUntil(t, softphoneTimeout, "baresip's ctrl_tcp to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrl))
		if err != nil {
			return false
		}
		b.conn = c
		return true
	})
	go b.read()
	t.Cleanup(func() { b.conn.Close() })
	// Registered before ctrl_tcp was reached, perhaps: read the log.
	waitUntil(t, softphoneTimeout, "baresip to register", func() bool { return strings.Contains(b.out.String(), "} 200 OK") })
	return b
}

// read collects the events and responses baresip sends on ctrl_tcp.
func (b *baresip) read() {
	r := bufio.NewReader(b.conn)
	for {
		size, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(size, ":"))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		msg := make([]byte, n+1) // the body and the closing ','
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(msg[:n], &m) != nil {
			continue
		}
		b.mu.Lock()
		b.events = append(b.events, m)
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
}

// do sends a command, as typed at baresip's menu without the slash.
func (b *baresip) do(command, params string) {
	b.t.Helper()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": command})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		b.t.Fatalf("baresip %s: %v", command, err)
	}
}

// waitEvent waits for an event of type typ (and param, when not empty)
// not waited for before, and returns it.
func (b *baresip) waitEvent(typ, param string) map[string]any {
	b.t.Helper()
	deadline := time.After(softphoneTimeout)
	for {
		b.mu.Lock()
		for i, e := range b.events {
			if e["type"] == typ && (param == "" || e["param"] == param) {
				b.events = slices.Delete(b.events, 0, i+1)
				b.mu.Unlock()
				return e
			}
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-deadline:
			b.t.Fatalf("baresip: no %s event in %s\n%s", typ, softphoneTimeout, b.out.String())
		}
	}
}

// recordings lists what sndfile recorded as heard (decoded), oldest first.
func (b *baresip) recordings() []string {
	files, _ := filepath.Glob(filepath.Join(b.dir, "rec", "*-dec.wav"))
	slices.Sort(files)
	return files
}

// linphone is one linphonec process registered as one extension.
type linphone struct {
	t     *testing.T
	dir   string
	stdin io.WriteCloser
	out   *syncBuffer
	seen  int // how much of out the waits have consumed
}

// startLinphone runs linphonec as ext with password at the PBX on sip,
// in file mode: it plays a tone of freq Hz and records what it hears.
func startLinphone(t *testing.T, ext, password, sip string, freq float64) *linphone {
	t.Helper()
	l := &linphone{t: t, dir: t.TempDir(), out: &syncBuffer{}}
	// Its call log database must have a directory to be made in, or the
	// core does not start its SIP transports.
	os.MkdirAll(filepath.Join(l.dir, ".local", "share", "linphone"), 0o755)
	rtp := freeUDPPort(t)
	rc := fmt.Sprintf("[sip]\nsip_port=%d\nsip_tcp_port=0\nsip_tls_port=0\nregister_only_when_network_is_up=0\n"+
		"[rtp]\naudio_rtp_port=%d-%d\n[sound]\necho_cancellation=0\n[video]\nenabled=0\n", freeUDPPort(t), rtp, min(rtp+20, 65535))
	if err := os.WriteFile(filepath.Join(l.dir, "linphonerc"), []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTone(t, filepath.Join(l.dir, "tone.wav"), freq, 60)
	cmd := exec.Command("linphonec", "-c", filepath.Join(l.dir, "linphonerc"))
	cmd.Env = append(os.Environ(), "HOME="+l.dir)
	cmd.Stdout, cmd.Stderr = l.out, l.out
	var err error
	if l.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		fmt.Fprintln(l.stdin, "quit")
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("linphonec %s output:\n%s", ext, l.out.String())
		}
	})
	l.do("soundcard use files")
	l.do(fmt.Sprintf("register sip:%s@%s sip:%s %s", ext, sip, sip, password))
	waitUntil(t, softphoneTimeout, "linphonec to register", func() bool {
		l.do("status register")
		time.Sleep(200 * time.Millisecond)
		return strings.Contains(l.out.String(), "registered, identity=sip:"+ext+"@")
	})
	return l
}

// do types a line at linphonec's prompt.
func (l *linphone) do(line string) {
	l.t.Helper()
	if _, err := fmt.Fprintln(l.stdin, line); err != nil {
		l.t.Fatalf("linphonec %q: %v", line, err)
	}
}

// media plays the tone and records into a new file, for the next call.
func (l *linphone) media(recording string) {
	l.do("play " + filepath.Join(l.dir, "tone.wav"))
	l.do("record " + recording)
}

// wait waits for linphonec to print what re matches, after what the last
// wait consumed.
func (l *linphone) wait(re string) {
	l.t.Helper()
	rx := regexp.MustCompile(re)
	waitUntil(l.t, softphoneTimeout, "linphonec to print "+re, func() bool {
		s := l.out.String()
		if loc := rx.FindStringIndex(s[l.seen:]); loc != nil {
			l.seen += loc[1]
			return true
		}
		return false
	})
}

// softphoneWant is what one webhook of a softphone call carries.
type softphoneWant struct {
	event  string
	fields map[string]any // in both profiles
	ext    map[string]any // in the extended profile only
}

// checkSoftphoneCall checks one call's webhooks in one profile: the events
// in order and the fields wanted, the same call_uuid throughout.
func checkSoftphoneCall(t *testing.T, profile string, hooks []Webhook, common map[string]any, wants []softphoneWant) {
	t.Helper()
	if got := Events(hooks); len(got) != len(wants) {
		t.Errorf("%s: events %v, want %d", profile, got, len(wants))
		return
	}
	for i, w := range wants {
		h := hooks[i]
		want := map[string]any{"event": w.event, "call_uuid": hooks[0].CallUUID()}
		for _, m := range []map[string]any{common, w.fields} {
			for k, v := range m {
				want[k] = v
			}
		}
		if profile == "extended" {
			for k, v := range w.ext {
				want[k] = v
			}
		}
		for k, v := range want {
			if got := h.Body[k]; fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%s webhook %d (%s): %s = %v, want %v\n%s", profile, i+1, h.Event(), k, got, v, h.Raw)
			}
		}
	}
}

// checkCallerName checks that every extended webhook names the caller, and
// no standard one does.
func checkCallerName(t *testing.T, profile string, hooks []Webhook, name string) {
	t.Helper()
	for _, h := range hooks {
		got, ok := h.Body["caller_id_name"]
		if profile == "extended" && got != name || profile == "standard" && ok {
			t.Errorf("%s %s: caller_id_name %v, want %q in the extended profile only", profile, h.Event(), got, name)
		}
	}
}

// TestSoftphones registers baresip as 1001 and linphonec as 1002, both on
// loopback with no sip.domain: they are challenged for the realm they used,
// with MD5, and given 127.0.0.1 in every address. 1001 calls 1002, each
// sends a DTMF digit, 1002 holds and resumes, 1001 hangs up. Then
// switchhook restarts; 1001 does not register again, and 1002 calls it:
// the registration kept in the store reaches it. Each sends a digit, 1001
// holds and resumes, 1002 hangs up. Every webhook of both calls is
// checked in both profiles, and each phone's recording holds the other's
// tone.
func TestSoftphones(t *testing.T) {
	needSoftphones(t)
	rs := map[string]*Receiver{"standard": NewReceiver(t), "extended": NewReceiver(t)}
	port := freeUDPPort(t)
	cfg := pbxConfig(rs, port)
	config := strings.Replace(cfg.String(), "  domain: pbx.test\n", "", 1) +
		"extensions:\n  - {number: \"1001\", password: secret-1001, name: Alice}\n  - {number: \"1002\", password: secret-1002, name: Bob}\n"
	s := launchPBX(t, config, port)

	const toneA, toneB = 440.0, 1000.0
	alice := startBaresip(t, "1001", "secret-1001", s.sip, toneA)
	bob := startLinphone(t, "1002", "secret-1002", s.sip, toneB)

	var regs []map[string]any
	s.API("GET", "/v1/registrations", nil, 200, &regs)
	if len(regs) != 2 {
		t.Fatalf("registrations: %v", regs)
	}
	for _, r := range regs {
		if !strings.Contains(fmt.Sprint(r["contact"]), "@127.0.0.1:") {
			t.Errorf("registration %v: contact not on loopback", r)
		}
	}
	aliceRegistered := regs[0]["registered_at"]

	// Call 1: Alice (baresip) calls Bob (linphonec).
	bobRec1 := filepath.Join(bob.dir, "call1.wav")
	bob.media(bobRec1)
	alice.do("dial", "1002")
	bob.wait(`Receiving new incoming call from "Alice" <sip:1001@127\.0\.0\.1>`)
	bob.do("answer")
	bob.wait("Media streams established")
	bob.media(bobRec1)
	alice.waitEvent("CALL_ESTABLISHED", "")
	time.Sleep(time.Second)
	alice.do("sndcode", "1")
	bob.wait(`Receiving tone 1`)
	time.Sleep(300 * time.Millisecond)
	bob.do("5")
	time.Sleep(time.Second)
	bob.do("pause")
	bob.wait("is now paused")
	// The leg of the party that holds shows it, not the leg held.
	waitUntil(t, 5*time.Second, "the callee's leg to show held", func() bool {
		var chans []map[string]any
		s.API("GET", "/v1/channels", nil, 200, &chans)
		states := map[string]any{}
		for _, ch := range chans {
			states[fmt.Sprint(ch["party"])] = ch["state"]
		}
		return states["callee"] == "held" && states["caller"] == "answered"
	})
	time.Sleep(500 * time.Millisecond)
	bob.do("resume")
	bob.wait("Media streams established")
	time.Sleep(1500 * time.Millisecond)
	alice.do("hangup", "")
	alice.waitEvent("CALL_CLOSED", "")
	bob.wait("ended")

	call1 := []softphoneWant{
		{event: "CALL_ROUTED"},
		{event: "CALL_RINGING"},
		{event: "CALL_ANSWER"},
		{event: "CALL_INPUT", fields: map[string]any{"digit": "1"}, ext: map[string]any{"party": "caller"}},
		{event: "CALL_INPUT", fields: map[string]any{"digit": "5"}, ext: map[string]any{"party": "callee"}},
		{event: "CALL_HOLD", ext: map[string]any{"party": "callee"}},
		{event: "CALL_UNHOLD", ext: map[string]any{"party": "callee"}},
		{event: "CALL_HANGUP", ext: map[string]any{"hangup_cause": "NORMAL_CLEARING", "hangup_by": "caller", "answered_by": "1002"}},
	}
	for profile, r := range rs {
		hooks := r.WaitCount(t, len(call1), 20*time.Second)
		checkSoftphoneCall(t, profile, hooks, map[string]any{"caller_id_number": "1001", "destination_number": "1002"}, call1)
		checkCallerName(t, profile, hooks, "Alice")
	}
	aliceRecs := alice.recordings()
	checkHeard(t, "baresip (1001)", aliceRecs, toneB, toneA)
	checkHeard(t, "linphonec (1002)", []string{bobRec1}, toneA, toneB)

	// switchhook restarts; Alice keeps her registration without renewing it.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	s.API("GET", "/v1/registrations", nil, 200, &regs)
	if len(regs) != 2 || regs[0]["registered_at"] != aliceRegistered {
		t.Fatalf("registrations after the restart: %v (1001 registered at %v)", regs, aliceRegistered)
	}

	// Call 2: Bob (linphonec) calls Alice (baresip).
	bobRec2 := filepath.Join(bob.dir, "call2.wav")
	bob.media(bobRec2)
	bob.do("call sip:1001@" + s.sip)
	alice.waitEvent("CALL_INCOMING", "")
	alice.do("accept", "")
	alice.waitEvent("CALL_ESTABLISHED", "")
	bob.wait("Media streams established")
	bob.media(bobRec2)
	// Talk first: baresip 1.0 records nothing it hears after a hold of
	// its own (its recorder stays with the stream the hold replaced).
	time.Sleep(2 * time.Second)
	bob.do("7")
	time.Sleep(time.Second)
	alice.do("sndcode", "#")
	bob.wait(`Receiving tone #`)
	time.Sleep(500 * time.Millisecond)
	alice.do("hold", "")
	time.Sleep(time.Second)
	alice.do("resume", "")
	time.Sleep(time.Second)
	bob.do("terminate")
	alice.waitEvent("CALL_CLOSED", "")

	call2 := []softphoneWant{
		{event: "CALL_ROUTED"},
		{event: "CALL_RINGING"},
		{event: "CALL_ANSWER"},
		{event: "CALL_INPUT", fields: map[string]any{"digit": "7"}, ext: map[string]any{"party": "caller"}},
		{event: "CALL_INPUT", fields: map[string]any{"digit": "#"}, ext: map[string]any{"party": "callee"}},
		{event: "CALL_HOLD", ext: map[string]any{"party": "callee"}},
		{event: "CALL_UNHOLD", ext: map[string]any{"party": "callee"}},
		{event: "CALL_HANGUP", ext: map[string]any{"hangup_cause": "NORMAL_CLEARING", "hangup_by": "caller", "answered_by": "1001"}},
	}
	for profile, r := range rs {
		hooks := r.WaitCount(t, len(call1)+len(call2), 20*time.Second)[len(call1):]
		checkSoftphoneCall(t, profile, hooks, map[string]any{"caller_id_number": "1002", "destination_number": "1001"}, call2)
		checkCallerName(t, profile, hooks, "Bob")
		if r.BadSignatures() != 0 {
			t.Errorf("%s: %d bad signatures", profile, r.BadSignatures())
		}
	}
	checkHeard(t, "baresip (1001)", slices.DeleteFunc(alice.recordings(), func(f string) bool { return slices.Contains(aliceRecs, f) }), toneB, toneA)
	checkHeard(t, "linphonec (1002)", []string{bobRec2}, toneA, toneB)
}
