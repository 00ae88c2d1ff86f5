"""Event search: the history the daemon keeps (Elasticsearch, or SQLite without it) from the terminal."""
