"""Built-in tasks, one module per family; registered by name through entry points."""
