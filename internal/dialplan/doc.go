// Package dialplan decides where a dialled number goes: which kind of target
// (an extension now; ring groups, IVRs and gateways as they are added) and
// which extensions to ring. A number that matches nothing is not routed, and
// the PBX refuses the call without emitting any event.
package dialplan
