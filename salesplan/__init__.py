"""salesplan."""
