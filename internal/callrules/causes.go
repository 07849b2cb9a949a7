package callrules

import "github.com/switchhook/switchhook/internal/events"

// HangupBy says who ended a call, per EVENTS.md's table: the causes that
// name a party or the system decide; else by, the party the connector saw
// hang up first, when it saw one; else, for a call never answered, the
// callee for the causes a callee gives (busy, rejected, a number the far
// end refused, its failure); else the system.
func HangupBy(cause string, by events.Party, answered bool) events.Party {
	switch cause {
	case events.CauseOriginatorCancel:
		return events.Caller
	case events.CauseNoAnswer, events.CauseUserNotRegistered, events.CauseRecoveryOnTimerExpire,
		events.CauseSystemShutdown, events.CauseNormalUnspecified, "ALLOTTED_TIMEOUT", events.CauseMediaTimeout:
		return events.System
	}
	if by != "" {
		return by
	}
	if !answered {
		switch cause {
		case events.CauseUserBusy, events.CauseCallRejected, events.CauseUnallocatedNumber,
			events.CauseInvalidNumberFormat, events.CauseNormalTemporaryFailure:
			return events.Callee
		}
	}
	return events.System
}

// SIPCode is the final SIP status that EVENTS.md's causes stand for, for an
// engine that did not report the status itself; 0 for other causes.
func SIPCode(cause string, answered bool) int {
	switch cause {
	case events.CauseNormalClearing:
		if answered {
			return 200
		}
		return 480
	case events.CauseOriginatorCancel:
		return 487
	case events.CauseUserBusy:
		return 486
	case events.CauseCallRejected:
		return 603
	case events.CauseNoAnswer:
		return 480
	case events.CauseUserNotRegistered, events.CauseUnallocatedNumber:
		return 404
	case events.CauseRecoveryOnTimerExpire:
		return 408
	case events.CauseInvalidNumberFormat:
		return 484
	case events.CauseNormalTemporaryFailure:
		return 503
	}
	return 0
}
