"""A local stand-in for Jira and Confluence, for tests and the credential-free demo."""
