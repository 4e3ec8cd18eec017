"""Sample applications for wsbackend, written against its public API only."""
