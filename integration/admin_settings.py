"""Admin for the integration settings of a connection."""
