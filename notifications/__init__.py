"""Repository events delivered to signed webhooks, e-mail, Slack and an in-app inbox (README: Notifications)."""
