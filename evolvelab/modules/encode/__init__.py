"""Built-in encode stages."""
