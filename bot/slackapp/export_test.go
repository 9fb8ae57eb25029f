package slackapp

import "context"

// RefreshGroups fetches the watched Slack user groups now (tests).
func RefreshGroups(ctx context.Context, a *App) { a.groups.refresh(ctx) }
