"""Graph documents from files: a Git repository or a directory."""
