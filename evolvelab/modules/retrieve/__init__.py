"""Built-in retrieve stages."""
