"""Sources: create/update, discovery of the detected nexset, sample records."""
