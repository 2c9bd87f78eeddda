"""Built-in manage stages."""
