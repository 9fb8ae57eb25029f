package connector

import "encoding/json"

// Activity types used by Kinetic.
const (
	TypeMessage = "message"
	TypeInvoke  = "invoke"
)

// ContentTypeAdaptiveCard is the attachment content type of an Adaptive Card.
const ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"

// Activity is a Bot Framework activity, the fields Kinetic reads or sends.
// https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference#activity-object
type Activity struct {
	Type         string               `json:"type"`
	ID           string               `json:"id,omitempty"`
	Timestamp    string               `json:"timestamp,omitempty"`
	ServiceURL   string               `json:"serviceUrl,omitempty"`
	ChannelID    string               `json:"channelId,omitempty"`
	From         *ChannelAccount      `json:"from,omitempty"`
	Conversation *ConversationAccount `json:"conversation,omitempty"`
	Recipient    *ChannelAccount      `json:"recipient,omitempty"`
	Text         string               `json:"text,omitempty"`
	TextFormat   string               `json:"textFormat,omitempty"`
	Summary      string               `json:"summary,omitempty"`
	Attachments  []Attachment         `json:"attachments,omitempty"`
	Entities     []Entity             `json:"entities,omitempty"`
	ReplyToID    string               `json:"replyToId,omitempty"`
	// Name is the invoke name (e.g. "adaptiveCard/action").
	Name        string          `json:"name,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	ChannelData json.RawMessage `json:"channelData,omitempty"`
}

// ChannelAccount is a user or bot. In Teams, AADObjectID is the stable
// Entra object id of a user; ID is the Teams-specific id ("29:…").
type ChannelAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
	Role        string `json:"role,omitempty"`
}

// ConversationAccount is a conversation (personal chat, group chat or a
// channel thread).
type ConversationAccount struct {
	ID               string `json:"id"`
	Name             string `json:"name,omitempty"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
}

// Attachment carries a card. Content is the card's JSON.
type Attachment struct {
	ContentType string          `json:"contentType"`
	ContentURL  string          `json:"contentUrl,omitempty"`
	Content     json.RawMessage `json:"content,omitempty"`
	Name        string          `json:"name,omitempty"`
}

// Entity is an activity entity; Teams mentions are {"type":"mention",
// "mentioned":{…},"text":"<at>Name</at>"}.
type Entity struct {
	Type      string          `json:"type"`
	Mentioned *ChannelAccount `json:"mentioned,omitempty"`
	Text      string          `json:"text,omitempty"`
}

// AdaptiveCard wraps a marshalled card in an attachment.
func AdaptiveCard(card json.RawMessage) Attachment {
	return Attachment{ContentType: ContentTypeAdaptiveCard, Content: card}
}

// ConversationParameters creates a conversation (POST /v3/conversations).
// For a 1:1 proactive message in Teams: Bot, one member and TenantID; Teams
// refuses the call without tenantId.
type ConversationParameters struct {
	IsGroup     bool             `json:"isGroup"`
	Bot         *ChannelAccount  `json:"bot,omitempty"`
	Members     []ChannelAccount `json:"members,omitempty"`
	TopicName   string           `json:"topicName,omitempty"`
	TenantID    string           `json:"tenantId,omitempty"`
	Activity    *Activity        `json:"activity,omitempty"`
	ChannelData json.RawMessage  `json:"channelData,omitempty"`
}

// ResourceResponse is the answer to send/reply/update: the activity id.
type ResourceResponse struct {
	ID string `json:"id"`
}

// ConversationResourceResponse is the answer to CreateConversation.
type ConversationResourceResponse struct {
	ID         string `json:"id"`
	ServiceURL string `json:"serviceUrl,omitempty"`
	ActivityID string `json:"activityId,omitempty"`
}
