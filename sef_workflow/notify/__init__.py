"""Notifications: templates, outbox, calendar invites and delivery."""
