package siphdr

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SipfragType is the Content-Type of a NOTIFY reporting a REFER's progress.
const SipfragType = "message/sipfrag;version=2.0"

// Sipfrag returns the message/sipfrag body of a NOTIFY that reports the
// transfer target's status (RFC 3515 §2.4.5): its status line alone.
func Sipfrag(code int, reason string) []byte {
	return []byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reason))
}

// ErrBadSipfrag is wrapped by every refusal of ParseSipfrag.
var ErrBadSipfrag = errors.New("bad message/sipfrag")

// ParseSipfrag reads the status line a message/sipfrag body starts with.
func ParseSipfrag(body []byte) (code int, reason string, err error) {
	line, _, _ := bytes.Cut(body, []byte("\n"))
	s := strings.TrimRight(string(line), "\r")
	rest, ok := strings.CutPrefix(s, "SIP/2.0 ")
	if !ok {
		return 0, "", fmt.Errorf("%w: %q is not a SIP/2.0 status line", ErrBadSipfrag, s)
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err = strconv.Atoi(num)
	if err != nil || len(num) != 3 || code < 100 || code > 699 {
		return 0, "", fmt.Errorf("%w: %q has no status code", ErrBadSipfrag, s)
	}
	return code, reason, nil
}

// NotifyState is the Subscription-State of a NOTIFY reporting status: the
// implicit subscription a REFER makes ends with the final status (RFC 3515
// §2.4.7).
func NotifyState(code int) string {
	if code >= 200 {
		return "terminated;reason=noresource"
	}
	return "active;expires=60"
}

// ReferEvent is the Event header of a NOTIFY about the REFER with CSeq
// number cseq (RFC 3515 §2.4.6: the id tells the REFERs of one dialog
// apart).
func ReferEvent(cseq uint32) string {
	return "refer;id=" + strconv.FormatUint(uint64(cseq), 10)
}
