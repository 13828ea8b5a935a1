"""What a study will do before it runs: the dry-run preview and its estimates."""
