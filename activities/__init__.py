"""Every side effect, as thin activity methods over services handed over at worker start-up."""
