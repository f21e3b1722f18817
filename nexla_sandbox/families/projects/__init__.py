"""Projects and the flows they group."""
