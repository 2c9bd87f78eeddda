"""Built-in store stages."""
