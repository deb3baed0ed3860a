"""The staff console: server-rendered pages that call the services with the signed-in user's token."""
