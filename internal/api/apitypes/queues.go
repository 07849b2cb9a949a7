package apitypes

import "time"

// Queue is a call queue as GET /v1/queues shows it: who waits, in the order
// they will be served, and what each agent is doing.
type Queue struct {
	Number   string `json:"number"`
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	// Callers are the callers waiting, first to be served first.
	Callers []QueueCaller `json:"callers"`
	// Agents are the queue's agents in their listed order.
	Agents []QueueAgent `json:"agents"`
	// Answered, Abandoned and Overflow count this process's queue calls
	// by outcome since it started.
	Answered  int `json:"answered"`
	Abandoned int `json:"abandoned"`
	Overflow  int `json:"overflow"`
}

// QueueCaller is a caller waiting in a queue.
type QueueCaller struct {
	CallUUID       string    `json:"call_uuid"`
	CallerIDNumber string    `json:"caller_id_number"`
	Position       int       `json:"position"` // 1 is served next
	Since          time.Time `json:"since"`
	Wait           int64     `json:"wait"` // whole seconds waited so far
	// Ringing are the agents offered this caller right now.
	Ringing []string `json:"ringing"`
}

// Agent states, as GET /v1/queues shows them.
const (
	AgentIdle         = "idle"
	AgentRinging      = "ringing"
	AgentOnCall       = "on_call"
	AgentWrapup       = "wrapup"
	AgentPaused       = "paused"
	AgentUnregistered = "unregistered"
)

// QueueAgent is one agent of a queue. State is what the agent is doing for
// any queue (ringing, on_call, wrapup), else whether it can be offered a
// call of this queue (paused here, unregistered, on another call, idle).
type QueueAgent struct {
	Extension string `json:"extension"`
	State     string `json:"state"`
	// Paused is set while the agent is paused in this queue, whatever it is
	// doing.
	Paused bool `json:"paused"`
	// CallUUID is the queue call the agent rings for or is on.
	CallUUID string `json:"call_uuid,omitempty"`
}
