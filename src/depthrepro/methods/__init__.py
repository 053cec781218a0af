"""One module per paper, composing nets and losses; registered by name."""
