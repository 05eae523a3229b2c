"""Database readers, one module per database, registered by name."""
