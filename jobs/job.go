package jobs

import "encoding/json"

// Job is the API shape of a job returned to the host (side-modules §2.1):
// camelCase, epoch milliseconds, the spec's snake_case JSON fields.
type Job struct {
	ID             string          `json:"id"`
	UserID         string          `json:"userId"`
	ThreadID       string          `json:"threadId"`
	MessageID      string          `json:"messageId"`
	Model          string          `json:"model"`
	Kind           string          `json:"kind,omitempty"`
	Status         string          `json:"status"`
	Content        string          `json:"content"`
	ChunksReceived int64           `json:"chunksReceived"`
	StartedAt      int64           `json:"startedAt"`
	LastActivityAt int64           `json:"lastActivityAt"`
	CompletedAt    *int64          `json:"completedAt,omitempty"`
	Error          *string         `json:"error,omitempty"`
	ToolCalls      json.RawMessage `json:"tool_calls,omitempty"`
	WorkflowState  json.RawMessage `json:"workflow_state,omitempty"`
	Execution      json.RawMessage `json:"execution,omitempty"`
	LeaseOwner     *string         `json:"leaseOwner,omitempty"`
	LeaseExpiresAt *int64          `json:"leaseExpiresAt,omitempty"`
	Attempts       int64           `json:"attempts"`
}

func toJob(r *jobRecord) *Job {
	j := &Job{
		ID: r.ID, UserID: r.UserID, ThreadID: r.ThreadID, MessageID: r.MessageID, Model: r.Model, Kind: r.Kind,
		Status: r.Status, Content: r.Content, ChunksReceived: r.ChunksReceived, StartedAt: r.StartedAtMs,
		LastActivityAt: r.LastActivityMs, ToolCalls: r.ToolCalls, WorkflowState: r.WorkflowState,
		Execution: r.Execution, Attempts: r.Attempts,
	}
	if j.LastActivityAt == 0 {
		j.LastActivityAt = j.StartedAt
	}
	if r.CompletedAtMs != 0 {
		v := r.CompletedAtMs
		j.CompletedAt = &v
	}
	if r.Error != "" {
		v := r.Error
		j.Error = &v
	}
	if r.LeaseOwner != "" {
		o, x := r.LeaseOwner, r.LeaseExpiresMs
		j.LeaseOwner, j.LeaseExpiresAt = &o, &x
	}
	return j
}
