package asterisk

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// maxMessageBytes bounds one WebSocket message. Asterisk's largest channel
// events are a few KiB; a message far beyond that is a broken peer.
const maxMessageBytes = 1 << 20

// ariEvent is the part of an ARI event message the connector reads.
type ariEvent struct {
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Channel   *channel `json:"channel"`
	// Dial
	Caller     *channel `json:"caller"`
	Peer       *channel `json:"peer"`
	Dialstatus string   `json:"dialstatus"`
	Dialstring string   `json:"dialstring"`
	// BridgeBlindTransfer (Channel is the transferer), BridgeAttendedTransfer
	Transferee          *channel `json:"transferee"`
	TransfererFirstLeg  *channel `json:"transferer_first_leg"`
	TransfererSecondLeg *channel `json:"transferer_second_leg"`
	TransferTarget      *channel `json:"transfer_target"`
	Result              string   `json:"result"`
	// ChannelTransfer: a REFER Asterisk hands to the ARI application
	// (PJSIP's transfer_handling = ari-only); State is absent on the
	// request, then the progress the application reports.
	State      string      `json:"state"`
	ReferTo    *referTo    `json:"refer_to"`
	ReferredBy *referredBy `json:"referred_by"`
	// ChannelDialplan: the application the channel now runs
	DialplanApp     string `json:"dialplan_app"`
	DialplanAppData string `json:"dialplan_app_data"`
	// ChannelDtmfReceived
	Digit      string `json:"digit"`
	DurationMS int64  `json:"duration_ms"`
	// ChannelHangupRequest, ChannelDestroyed
	Cause    int    `json:"cause"`
	CauseTxt string `json:"cause_txt"`
	// TechCause is the SIP status of the channel's end, when one was sent
	// or received (a 486 answered, a 487 after CANCEL).
	TechCause int  `json:"tech_cause"`
	Soft      bool `json:"soft"`
}

// channel is ARI's Channel model, in part.
type channel struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	State     string   `json:"state"`
	Caller    callerID `json:"caller"`
	Connected callerID `json:"connected"`
	Dialplan  struct {
		Context  string `json:"context"`
		Exten    string `json:"exten"`
		Priority int    `json:"priority"`
		AppName  string `json:"app_name"`
		AppData  string `json:"app_data"`
	} `json:"dialplan"`
	Creationtime string `json:"creationtime"`
	// Linkedid is not in ARI's Channel model today; it is read when an
	// Asterisk sends it, and the grouping then needs no guessing.
	Linkedid string `json:"linkedid"`
}

// referTo is ChannelTransfer's refer_to: where the REFER sends the
// transferee; with Replaces, the channel of the dialog it replaces and the
// channel bridged to it (the transfer's target).
type referTo struct {
	RequestedDestination struct {
		Destination string `json:"destination"`
		ProtocolID  string `json:"protocol_id"`
	} `json:"requested_destination"`
	DestinationChannel *channel `json:"destination_channel"`
	ConnectedChannel   *channel `json:"connected_channel"`
}

// referredBy is ChannelTransfer's referred_by: the channel the REFER came
// on and the one bridged to it (the transferee).
type referredBy struct {
	SourceChannel    *channel `json:"source_channel"`
	ConnectedChannel *channel `json:"connected_channel"`
}

type callerID struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

// decodeEvent decodes one WebSocket message.
func decodeEvent(msg []byte) (*ariEvent, error) {
	var ev ariEvent
	if err := json.Unmarshal(msg, &ev); err != nil {
		return nil, fmt.Errorf("ARI event: %w", err)
	}
	if ev.Type == "" {
		return nil, errors.New("ARI event has no type")
	}
	chans := []*channel{ev.Channel, ev.Caller, ev.Peer, ev.Transferee, ev.TransfererFirstLeg, ev.TransfererSecondLeg, ev.TransferTarget}
	if r := ev.ReferTo; r != nil {
		chans = append(chans, r.DestinationChannel, r.ConnectedChannel)
	}
	if r := ev.ReferredBy; r != nil {
		chans = append(chans, r.SourceChannel, r.ConnectedChannel)
	}
	for _, ch := range chans {
		if ch != nil && ch.ID == "" {
			return nil, fmt.Errorf("ARI %s event has a channel without id", ev.Type)
		}
	}
	return &ev, nil
}

// ARI's timestamps, e.g. 2016-07-09T11:54:01.134-0400.
const timestampLayout = "2006-01-02T15:04:05.000-0700"

func (ev *ariEvent) time() time.Time {
	if t, err := parseTime(ev.Timestamp); err == nil {
		return t
	}
	return time.Now().UTC()
}

// parseTime reads one of ARI's timestamps.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(timestampLayout, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// causeNames are the Q.850 causes Asterisk reports, named as FreeSWITCH
// names them (EVENTS.md uses FreeSWITCH's spelling).
var causeNames = map[int]string{
	0: "NORMAL_UNSPECIFIED", 1: "UNALLOCATED_NUMBER", 2: "NO_ROUTE_TRANSIT_NET", 3: "NO_ROUTE_DESTINATION",
	6: "CHANNEL_UNACCEPTABLE", 16: "NORMAL_CLEARING", 17: "USER_BUSY", 18: "NO_USER_RESPONSE", 19: "NO_ANSWER",
	20: "SUBSCRIBER_ABSENT", 21: "CALL_REJECTED", 22: "NUMBER_CHANGED", 27: "DESTINATION_OUT_OF_ORDER",
	28: "INVALID_NUMBER_FORMAT", 29: "FACILITY_REJECTED", 31: "NORMAL_UNSPECIFIED", 34: "NORMAL_CIRCUIT_CONGESTION",
	38: "NETWORK_OUT_OF_ORDER", 41: "NORMAL_TEMPORARY_FAILURE", 42: "SWITCH_CONGESTION", 58: "BEARERCAPABILITY_NOTAVAIL",
	88: "INCOMPATIBLE_DESTINATION", 102: "RECOVERY_ON_TIMER_EXPIRE", 127: "INTERWORKING",
}

func causeName(code int) string {
	if n, ok := causeNames[code]; ok {
		return n
	}
	return "NORMAL_UNSPECIFIED"
}
