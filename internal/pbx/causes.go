package pbx

import (
	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/events"
)

// Causes FreeSWITCH reports for callee answers the contract's table does not
// list, spelled as FreeSWITCH spells them.
const (
	causeNoUserResponse          = "NO_USER_RESPONSE"
	causeIncompatibleDestination = "INCOMPATIBLE_DESTINATION"
)

// failureCause maps the final failure response of a callee to the hangup
// cause (EVENTS.md's table, then FreeSWITCH's SIP-to-Q.850 mapping).
func failureCause(code int) string {
	switch {
	case code == sip.StatusBusyHere || code == sip.StatusGlobalBusyEverywhere:
		return events.CauseUserBusy
	case code == sip.StatusGlobalDecline:
		return events.CauseCallRejected
	case code == sip.StatusRequestTimeout:
		return events.CauseRecoveryOnTimerExpire
	case code == sip.StatusNotFound || code == sip.StatusGlobalDoesNotExistAnywhere:
		return events.CauseUnallocatedNumber
	case code == sip.StatusAddressIncomplete:
		return events.CauseInvalidNumberFormat
	case code == sip.StatusTemporarilyUnavailable:
		return causeNoUserResponse
	case code == sip.StatusNotAcceptableHere || code == sip.StatusGlobalNotAcceptable:
		return causeIncompatibleDestination
	case code >= 500 && code < 600:
		return events.CauseNormalTemporaryFailure
	}
	return events.CauseNormalUnspecified
}

// betterFailure reports whether final response code a should be what the
// caller hears rather than b, when every contact of a call failed: a 6xx
// ends the search, busy beats the rest, and otherwise the lowest class wins
// (RFC 3261 §16.7 step 6, simplified for a PBX).
func betterFailure(a, b int) bool {
	switch {
	case b == 0:
		return true
	case a >= 600 != (b >= 600):
		return a >= 600
	case (a == sip.StatusBusyHere) != (b == sip.StatusBusyHere):
		return a == sip.StatusBusyHere
	}
	return a/100 < b/100
}
