package slackbot

import (
	"github.com/slack-go/slack"
)

// Response is what a handler wants written back to Slack in the immediate
// answer (the HTTP response body, or the Socket Mode ack payload). The zero
// value is an empty acknowledgement. Set at most one of Message and View;
// build it with the constructors below.
//
// Slack reads the immediate answer only in some cases, and the transport
// drops the rest:
//   - slash commands: Message is shown to the user (ephemeral) or the
//     channel (in_channel);
//   - view_submission interactions: View carries response_action (errors,
//     update, push, clear);
//   - block_actions and other interactions, and events: the answer is only
//     an acknowledgement; reply through the Web API or response_url in a job.
type Response struct {
	Message *Message
	View    *slack.ViewSubmissionResponse
}

// Message is an immediate reply to a slash command.
type Message struct {
	// ResponseType is "ephemeral" (only the invoking user sees it) or
	// "in_channel".
	ResponseType string        `json:"response_type"`
	Text         string        `json:"text,omitempty"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

// Ack returns the empty acknowledgement.
func Ack() Response { return Response{} }

// Ephemeral returns a slash-command reply only the invoking user sees. text
// is also the notification fallback when blocks are given.
func Ephemeral(text string, blocks ...slack.Block) Response {
	return Response{Message: &Message{ResponseType: slack.ResponseTypeEphemeral, Text: text, Blocks: blocks}}
}

// InChannel returns a slash-command reply posted to the whole channel.
func InChannel(text string, blocks ...slack.Block) Response {
	return Response{Message: &Message{ResponseType: slack.ResponseTypeInChannel, Text: text, Blocks: blocks}}
}

// ViewErrors keeps a submitted modal open and shows errors under its input
// blocks, keyed by block_id.
func ViewErrors(errs map[string]string) Response {
	return Response{View: slack.NewErrorsViewSubmissionResponse(errs)}
}

// ViewUpdate replaces the submitted modal with v.
func ViewUpdate(v slack.ModalViewRequest) Response {
	return Response{View: slack.NewUpdateViewSubmissionResponse(&v)}
}

// ViewPush pushes v on top of the submitted modal.
func ViewPush(v slack.ModalViewRequest) Response {
	return Response{View: slack.NewPushViewSubmissionResponse(&v)}
}

// ViewClear closes every modal in the stack.
func ViewClear() Response {
	return Response{View: slack.NewClearViewSubmissionResponse()}
}

// commandPayload is the body for a slash command answer, or nil.
func (r Response) commandPayload() any {
	if r.Message == nil {
		return nil
	}
	return r.Message
}

// interactionPayload is the body for an interaction answer, or nil: only a
// view_submission reads one.
func (r Response) interactionPayload(cb *slack.InteractionCallback) any {
	if r.View == nil || cb.Type != slack.InteractionTypeViewSubmission {
		return nil
	}
	return r.View
}
