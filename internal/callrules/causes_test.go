package callrules

import (
	"testing"

	"github.com/switchhook/switchhook/internal/events"
)

// EVENTS.md's table of causes: the party and SIP code of each.
func TestHangupTable(t *testing.T) {
	for _, tc := range []struct {
		cause    string
		by       events.Party // the party seen hanging up
		answered bool
		wantBy   events.Party
		wantCode int
	}{
		{events.CauseNormalClearing, events.Caller, true, events.Caller, 200},
		{events.CauseNormalClearing, events.Callee, true, events.Callee, 200},
		{events.CauseNormalClearing, "", true, events.System, 200},
		{events.CauseNormalClearing, "", false, events.System, 480},
		{events.CauseOriginatorCancel, "", false, events.Caller, 487},
		{events.CauseOriginatorCancel, events.Callee, false, events.Caller, 487},
		{events.CauseUserBusy, "", false, events.Callee, 486},
		{events.CauseCallRejected, "", false, events.Callee, 603},
		{events.CauseNoAnswer, events.Callee, false, events.System, 480},
		{events.CauseUserNotRegistered, "", false, events.System, 404},
		{events.CauseRecoveryOnTimerExpire, "", false, events.System, 408},
		{events.CauseUnallocatedNumber, "", false, events.Callee, 404},
		{events.CauseInvalidNumberFormat, "", false, events.Callee, 484},
		{events.CauseNormalTemporaryFailure, "", false, events.Callee, 503},
		{events.CauseNormalTemporaryFailure, "", true, events.System, 503},
		{events.CauseSystemShutdown, events.Caller, true, events.System, 0},
		{events.CauseNormalUnspecified, events.Caller, true, events.System, 0},
		{"ALLOTTED_TIMEOUT", events.Caller, true, events.System, 0},
		{"MEDIA_TIMEOUT", "", true, events.System, 0},
		{"INCOMPATIBLE_DESTINATION", "", false, events.System, 0},
		{"INCOMPATIBLE_DESTINATION", events.Callee, false, events.Callee, 0},
	} {
		if got := HangupBy(tc.cause, tc.by, tc.answered); got != tc.wantBy {
			t.Errorf("HangupBy(%s, %q, answered %v) = %s, want %s", tc.cause, tc.by, tc.answered, got, tc.wantBy)
		}
		if got := SIPCode(tc.cause, tc.answered); got != tc.wantCode {
			t.Errorf("SIPCode(%s, answered %v) = %d, want %d", tc.cause, tc.answered, got, tc.wantCode)
		}
	}
}
