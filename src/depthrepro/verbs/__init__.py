"""The CLI verbs: argument parsing and file plumbing around the library, one module per verb."""
